from django.urls import path

from tenants.api import api_keys, experiments, invitations, views

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
    path("api-keys/", api_keys.ApiKeyListCreateView.as_view(), name="api-key-list"),
    path("api-keys/<int:pk>/revoke/", api_keys.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("api-keys/<int:pk>/rotate/", api_keys.ApiKeyRotateView.as_view(), name="api-key-rotate"),
    path("experiments/", experiments.ExperimentListCreateView.as_view(), name="experiment-list"),
    path("experiments/<int:pk>/", experiments.ExperimentDetailView.as_view(), name="experiment-detail"),
    path(
        "experiments/<int:pk>/results/",
        experiments.ExperimentResultsView.as_view(),
        name="experiment-results",
    ),
]
