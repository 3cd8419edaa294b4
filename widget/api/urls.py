from django.urls import path

from widget.api import views

urlpatterns = [
    path("sites/", views.SiteListView.as_view(), name="sites"),
    path("sites/<int:pk>/", views.SiteDetailView.as_view(), name="site"),
    path("sites/<int:pk>/rotate-secret/", views.SiteSecretView.as_view(), name="site-secret"),
]
