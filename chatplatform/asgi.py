"""ASGI entry point for Daphne: HTTP goes to Django, WebSockets to the chat consumer (members),
the widget's (visitors) and the inbox's (agents); the real client's address first
(``infra.proxies``)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.conf import settings  # noqa: E402

from chat.routing import websocket_urlpatterns as chat_sockets  # noqa: E402
from chatplatform.static import StaticFiles  # noqa: E402
from inbox.routing import websocket_urlpatterns as inbox_sockets  # noqa: E402
from infra.proxies import TrustedProxies, trusted_networks  # noqa: E402
from widget.routing import websocket_urlpatterns as widget_sockets  # noqa: E402

http_app = StaticFiles(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app

application = TrustedProxies(
    ProtocolTypeRouter(
        {
            "http": http_app,
            # The chat page's session; who it belongs to, token auth and the Origin check are
            # decided in the consumer (chat.ws_auth), where a database outage can be answered
            # with 1013.
            "websocket": SessionMiddlewareStack(URLRouter(chat_sockets + widget_sockets + inbox_sockets)),
        }
    ),
    trusted_networks(settings.TRUSTED_PROXIES),
)
