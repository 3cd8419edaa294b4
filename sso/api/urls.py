from django.urls import path

from sso.api import views

urlpatterns = [path("sso/", views.SsoView.as_view(), name="sso")]
