from django.urls import path

from privacy.api import views

_SUBJECT = "data-subjects/<str:kind>/<str:ident>/"

urlpatterns = [
    path(f"{_SUBJECT}export/", views.SubjectExportView.as_view(), name="subject-export"),
    path(f"{_SUBJECT}erase/", views.SubjectEraseView.as_view(), name="subject-erase"),
]
