from django.urls import path

from chat.api import analytics, conversations, exports, files, routing

urlpatterns = [
    path("attachments/", files.ChatFileUploadView.as_view(), name="attachments"),
    path("attachments/<int:pk>/", files.ChatFileDetailView.as_view(), name="attachment"),
    path("attachments/<int:pk>/download/", files.ChatFileDownloadView.as_view(), name="attachment-download"),
    path(
        "conversations/<int:pk>/attachments/",
        files.ConversationFilesView.as_view(),
        name="conversation-attachments",
    ),
    path("conversations/", conversations.ConversationListView.as_view(), name="conversation-list"),
    path("conversations/export/", exports.ConversationsExportView.as_view(), name="conversations-export"),
    path(
        "conversations/<int:pk>/", conversations.ConversationDetailView.as_view(), name="conversation-detail"
    ),
    path(
        "conversations/<int:pk>/messages/",
        conversations.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<int:pk>/export/", exports.ConversationExportView.as_view(), name="conversation-export"
    ),
    path("analytics/", analytics.AnalyticsView.as_view(), name="analytics"),
    path("analytics/routing/", routing.RoutingView.as_view(), name="analytics-routing"),
]
