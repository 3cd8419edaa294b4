from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chatplatform.health import healthz, readyz
from infra.metrics import metrics_view
from tenants import views as tenant_views
from tenants.sign_in import SignInForm

API_APPS = [
    "tenants",
    "chat",
    "knowledge",
    "tools",
    "alerts",
    "billing",
    "widget",
    "inbox",
    "audit",
    "webhooks",
    "sso",
    "scim",
    "privacy",
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:page", permanent=False)),
    # Browsers ask for /favicon.ico whatever the page says: the pages name the SVG one.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("chat/", include("chat.urls")),
    path("inbox/", include("inbox.urls")),
    path("console/", include("console.urls")),
    path("invitations/<str:token>/", tenant_views.invitation, name="invitation"),
    path("sso/", include("sso.urls")),
    path("scim/v2/", include("scim.urls")),
    # The website widget: its script, panel and visitors' requests (any website's visitors).
    path("", include("widget.urls")),
    # Each app's REST endpoints, from its own api/urls.py.
    *(path("api/v1/", include(f"{app}.api.urls")) for app in API_APPS),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("metrics", metrics_view, name="metrics"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
]

handler404 = "infra.errors.not_found"
handler403 = "infra.errors.forbidden"
handler500 = "infra.errors.server_error"
