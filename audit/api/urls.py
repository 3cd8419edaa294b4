from django.urls import path

from audit.api import views

urlpatterns = [
    path("audit/", views.AuditLogView.as_view(), name="audit"),
    path("audit/export/", views.AuditExportView.as_view(), name="audit-export"),
]
