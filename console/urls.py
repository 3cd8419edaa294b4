from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("conversations/", views.conversations, name="conversations"),
    path("knowledge/", views.knowledge, name="knowledge"),
    path("curated/", views.curated, name="curated"),
    path("tools/", views.tools, name="tools"),
    path("alerts/", views.alerts, name="alerts"),
    path("sites/", views.sites, name="sites"),
    path("usage/", views.usage, name="usage"),
    path("team/", views.team, name="team"),
    path("settings/", views.settings_page, name="settings"),
    path("integrations/", views.integrations, name="integrations"),
    path("history/", views.history, name="history"),
]
