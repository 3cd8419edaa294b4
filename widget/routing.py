from django.urls import path

from widget.consumers import WidgetConsumer

websocket_urlpatterns = [
    path("ws/widget/<str:site_key>/", WidgetConsumer.as_asgi()),
    path("ws/widget/<str:site_key>/<int:conversation_id>/", WidgetConsumer.as_asgi()),
]
