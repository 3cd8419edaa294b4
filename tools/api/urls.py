from django.urls import path

from tools.api import views

urlpatterns = [
    path("tools/", views.ToolListView.as_view(), name="tools"),
    path("tools/<int:pk>/", views.ToolDetailView.as_view(), name="tool"),
]
