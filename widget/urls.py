"""The widget's public side: the snippet, the panel and what the panel asks for."""

from django.urls import path

from widget import views, visitor_api

app_name = "widget"

urlpatterns = [
    path("widget.js", views.widget_script, name="script"),
    path("widget/<str:key>/", views.panel, name="panel"),
    path("widget/<str:key>/settings", views.site_settings, name="settings"),
    path("widget/<str:key>/visitors/", visitor_api.VisitorsView.as_view(), name="visitors"),
    path(
        "widget/<str:key>/conversations/",
        visitor_api.VisitorConversationsView.as_view(),
        name="conversations",
    ),
    path(
        "widget/<str:key>/conversations/<int:conversation_id>/messages/",
        visitor_api.VisitorMessagesView.as_view(),
        name="messages",
    ),
]
