from django.apps import AppConfig


class WidgetConfig(AppConfig):
    name = "widget"
    verbose_name = "Website widget"
    default_auto_field = "django.db.models.BigAutoField"
