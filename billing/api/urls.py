from django.urls import path

from billing.api import views

urlpatterns = [
    path("usage/", views.UsageView.as_view(), name="usage"),
    path("usage/me/", views.MyUsageView.as_view(), name="usage-me"),
]
