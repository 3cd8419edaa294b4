from django.urls import path

from scim.api import views

urlpatterns = [
    path("scim/groups/", views.GroupList.as_view(), name="scim-groups"),
    path("scim/groups/<str:scim_id>/", views.GroupDetail.as_view(), name="scim-group"),
]
