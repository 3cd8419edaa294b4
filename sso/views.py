"""The sign-in pages: ``/sso/`` finds a workspace's provider, ``/sso/<tenant>/`` sends the
browser to it, ``/sso/<tenant>/callback/`` takes the provider's answer back (``sso.provider``
checks it, ``sso.services`` says who it signs in). Whatever goes wrong is a page that says what,
with a 4xx (or 502: the provider could not be reached), never a 500."""

from typing import Any

import requests
import structlog
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from django.contrib.auth import login
from django.core.validators import slug_re
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from joserfc.errors import JoseError

from infra.outbound import OutboundRefused
from sso.provider import ProviderRefused, TenantProvider
from sso.selectors import connection_for_slug
from sso.services import SignInRefused, sso_sign_in
from tenants.selectors import SESSION_TENANT_KEY

log = structlog.stdlib.get_logger(__name__)

_NEXT_KEY = "sso_next"
_UNREACHABLE = (requests.RequestException, OutboundRefused, ProviderRefused, RuntimeError, ValueError)


def _refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "sso/refused.html", {"message": message}, status=status)


@require_http_methods(["GET", "POST"])
def find(request: HttpRequest) -> HttpResponse:
    """The workspace's name (its address on the platform) leads to its provider. Not an e-mail
    domain: a domain would have to be proved a tenant's before it could send anyone anywhere.

    A found workspace is answered with a page that goes on to ``start`` by a refresh, not with a
    redirect: the pages' CSP lets forms post only here (``form-action 'self'``), and browsers hold
    the redirects that follow a submission to it, so a redirect to the provider would be blocked."""
    workspace = request.POST.get("workspace", "").strip().lower() if request.method == "POST" else ""
    if slug_re.fullmatch(workspace) and connection_for_slug(workspace) is not None:
        target = reverse("sso:start", args=[workspace])
        onward = f"{target}?{request.GET.urlencode()}" if request.GET else target
        return render(request, "sso/onward.html", {"onward": onward})
    error = "That workspace has no single sign-on." if request.method == "POST" else ""
    context = {"workspace": workspace, "error": error, "next": request.GET.get("next", "")}
    return render(request, "sso/find.html", context, status=404 if error else 200)


def start(request: HttpRequest, slug: str) -> HttpResponse:
    connection = connection_for_slug(slug)
    if connection is None:
        return _refused(request, "This workspace has no single sign-on.", 404)
    wanted = request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        request.session[_NEXT_KEY] = wanted
    callback = request.build_absolute_uri(reverse("sso:callback", args=[slug]))
    try:
        response: HttpResponse = TenantProvider(connection).authorize_redirect(request, callback)
    except _UNREACHABLE as exc:
        log.warning("sso.provider_unreachable", tenant_id=connection.tenant_id, error=str(exc))
        return _refused(request, "Your identity provider could not be reached. Try again later.", 502)
    return response


def _claims(provider: TenantProvider, token: dict[str, Any]) -> dict[str, Any]:
    """The ID token's checked claims, completed from the userinfo endpoint when they lack the
    address or the groups (scope claims may be there only: OpenID Connect Core §5.4), for the
    same ``sub`` only (§5.3.2)."""
    claims = dict(token["userinfo"])
    role_claim = provider.connection.role_claim
    endpoint = provider.load_server_metadata().get("userinfo_endpoint")
    if endpoint and ("email" not in claims or role_claim not in claims):
        extra = dict(provider.userinfo(token=token))
        if extra.get("sub") != claims.get("sub"):
            raise SignInRefused("userinfo_subject", "Your identity provider's answers do not agree.")
        claims = {**extra, **claims}
    return claims


def callback(request: HttpRequest, slug: str) -> HttpResponse:
    connection = connection_for_slug(slug)
    if connection is None:
        return _refused(request, "This workspace has no single sign-on.", 404)
    provider = TenantProvider(connection)
    try:
        token = provider.authorize_access_token(request)
        if "userinfo" not in token:
            raise SignInRefused("no_id_token", "Your identity provider gave no ID token.")
        user = sso_sign_in(connection=connection, claims=_claims(provider, token), now=timezone.now())
    except MismatchingStateError:
        return _refused(request, "This sign-in link was used already or has expired. Start again.", 400)
    except OAuthError as exc:
        log.info("sso.provider_error", tenant_id=connection.tenant_id, error=exc.error)
        return _refused(request, "Your identity provider did not sign you in. Start again.", 400)
    except JoseError as exc:
        log.warning("sso.id_token_refused", tenant_id=connection.tenant_id, error=str(exc))
        return _refused(request, "Your identity provider's answer could not be verified.", 400)
    except SignInRefused as refused:
        log.info("sso.refused", tenant_id=connection.tenant_id, code=refused.code)
        return _refused(request, str(refused), 403)
    except _UNREACHABLE as exc:
        log.warning("sso.provider_unreachable", tenant_id=connection.tenant_id, error=str(exc))
        return _refused(request, "Your identity provider could not be reached. Try again later.", 502)
    wanted = request.session.pop(_NEXT_KEY, "")  # before login(): another account's session is flushed
    login(request, user, backend="sso.backends.ProviderBackend")
    request.session[SESSION_TENANT_KEY] = slug
    return redirect(wanted or reverse("chat:page"))
