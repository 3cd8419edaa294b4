from django.urls import path

from alerts.api import views

urlpatterns = [
    path("alerts/", views.AlertListView.as_view(), name="alerts"),
    path("alerts/<int:pk>/acknowledge/", views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("alerts/rules/", views.AlertRuleListView.as_view(), name="alert-rules"),
    path("alerts/rules/<int:pk>/", views.AlertRuleDetailView.as_view(), name="alert-rule"),
]
