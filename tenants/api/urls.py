from django.urls import path

from tenants.api import experiments, views

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("tenants/", views.TenantListCreateView.as_view(), name="tenant-list"),
    path("tenants/<slug:slug>/members/", views.TenantMembersView.as_view(), name="tenant-members"),
    path("experiments/", experiments.ExperimentListCreateView.as_view(), name="experiment-list"),
    path("experiments/<int:pk>/", experiments.ExperimentDetailView.as_view(), name="experiment-detail"),
    path(
        "experiments/<int:pk>/results/",
        experiments.ExperimentResultsView.as_view(),
        name="experiment-results",
    ),
]
