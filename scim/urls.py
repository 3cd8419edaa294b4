from django.urls import path, re_path

from scim import views

app_name = "scim"

urlpatterns = [
    path("<slug:slug>/Users", views.collection, {"kind": views.USERS}, name="users"),
    path("<slug:slug>/Users/.search", views.search, {"kind": views.USERS}, name="users-search"),
    path("<slug:slug>/Users/<str:scim_id>", views.resource, {"kind": views.USERS}, name="user"),
    path("<slug:slug>/Groups", views.collection, {"kind": views.GROUPS}, name="groups"),
    path("<slug:slug>/Groups/.search", views.search, {"kind": views.GROUPS}, name="groups-search"),
    path("<slug:slug>/Groups/<str:scim_id>", views.resource, {"kind": views.GROUPS}, name="group"),
    path("<slug:slug>/ServiceProviderConfig", views.service_provider_config, name="config"),
    path("<slug:slug>/ResourceTypes", views.resource_types, name="resource-types"),
    path("<slug:slug>/ResourceTypes/<str:name>", views.resource_types, name="resource-type"),
    path("<slug:slug>/Schemas", views.schemas, name="schemas"),
    path("<slug:slug>/Schemas/<str:urn>", views.schemas, name="schema"),
    re_path(r"^(?P<slug>[-a-zA-Z0-9_]+)/(?P<rest>.*)$", views.unknown, name="unknown"),
]
