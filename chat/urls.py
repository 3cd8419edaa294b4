from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.chat_page, name="page"),
    path("tenant/", views.choose_tenant, name="choose-tenant"),
    path("console/", views.console, name="console"),
]
