from django.urls import path

from alerts import api as alerts_api
from chat import api as chat_api
from chat import files_api, routing_api
from knowledge import api as knowledge_api
from knowledge import curated_api
from tenants.api import experiments, invitations, views
from tools import api as tools_api

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout-api"),
    path("tenants/", views.TenantListCreateView.as_view(), name="tenant-list"),
    path("tenants/<slug:slug>/config/", views.TenantConfigView.as_view(), name="tenant-config"),
    path("tenants/<slug:slug>/members/", views.TenantMembersView.as_view(), name="tenant-members"),
    path(
        "tenants/<slug:slug>/members/<int:pk>/",
        views.TenantMemberDetailView.as_view(),
        name="tenant-member-detail",
    ),
    path(
        "tenants/<slug:slug>/invitations/",
        invitations.InvitationListCreateView.as_view(),
        name="tenant-invitations",
    ),
    path(
        "tenants/<slug:slug>/invitations/<int:pk>/",
        invitations.InvitationDetailView.as_view(),
        name="tenant-invitation-detail",
    ),
    path("knowledge/documents/", knowledge_api.DocumentListView.as_view(), name="knowledge-documents"),
    path(
        "knowledge/documents/<int:pk>/", knowledge_api.DocumentDetailView.as_view(), name="knowledge-document"
    ),
    path(
        "knowledge/documents/<int:pk>/reingest/",
        knowledge_api.DocumentReingestView.as_view(),
        name="knowledge-document-reingest",
    ),
    path("knowledge/search/", knowledge_api.KnowledgeSearchView.as_view(), name="knowledge-search"),
    path("knowledge/curated/", curated_api.CuratedAnswerListView.as_view(), name="curated-answers"),
    path("knowledge/curated/<int:pk>/", curated_api.CuratedAnswerDetailView.as_view(), name="curated-answer"),
    path(
        "knowledge/curated/suggestions/",
        curated_api.CuratedSuggestionsView.as_view(),
        name="curated-suggestions",
    ),
    path("alerts/", alerts_api.AlertListView.as_view(), name="alerts"),
    path("alerts/<int:pk>/acknowledge/", alerts_api.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("alerts/rules/", alerts_api.AlertRuleListView.as_view(), name="alert-rules"),
    path("alerts/rules/<int:pk>/", alerts_api.AlertRuleDetailView.as_view(), name="alert-rule"),
    path("tools/", tools_api.ToolListView.as_view(), name="tools"),
    path("tools/<int:pk>/", tools_api.ToolDetailView.as_view(), name="tool"),
    path("attachments/", files_api.ChatFileUploadView.as_view(), name="attachments"),
    path("attachments/<int:pk>/", files_api.ChatFileDetailView.as_view(), name="attachment"),
    path(
        "attachments/<int:pk>/download/", files_api.ChatFileDownloadView.as_view(), name="attachment-download"
    ),
    path(
        "conversations/<int:pk>/attachments/",
        files_api.ConversationFilesView.as_view(),
        name="conversation-attachments",
    ),
    path("conversations/", chat_api.ConversationListView.as_view(), name="conversation-list"),
    path("conversations/export/", chat_api.ConversationsExportView.as_view(), name="conversations-export"),
    path("conversations/<int:pk>/", chat_api.ConversationDetailView.as_view(), name="conversation-detail"),
    path(
        "conversations/<int:pk>/messages/",
        chat_api.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<int:pk>/export/",
        chat_api.ConversationExportView.as_view(),
        name="conversation-export",
    ),
    path("analytics/", chat_api.AnalyticsView.as_view(), name="analytics"),
    path("analytics/routing/", routing_api.RoutingView.as_view(), name="analytics-routing"),
    path("experiments/", experiments.ExperimentListCreateView.as_view(), name="experiment-list"),
    path("experiments/<int:pk>/", experiments.ExperimentDetailView.as_view(), name="experiment-detail"),
    path(
        "experiments/<int:pk>/results/",
        experiments.ExperimentResultsView.as_view(),
        name="experiment-results",
    ),
]
