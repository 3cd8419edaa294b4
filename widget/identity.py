"""Who a widget visitor is: the two tokens of the widget.

- The **visitor token** is the platform's: signed with ``SECRET_KEY`` (``django.core.signing``),
  it names one visitor of one site, is kept by the widget's iframe (its own origin's storage, out
  of the host page's reach) and opens their sockets. An anonymous visitor's lasts
  ``WIDGET_VISITOR_TOKEN_DAYS``; a verified visitor's no longer than the identity it came from.
- The **identity token** is the tenant's: a JWT its own server signs (HS256, the site's
  ``identity_secret``) for a visitor it knows: ``sub`` (its id for them), optional ``name`` and
  ``email``, a required ``exp`` at most ``WIDGET_IDENTITY_MAX_LIFETIME_S`` ahead. The widget hands
  it in once for a visitor token of that visitor. A browser never sees the secret, so an
  unverified visitor can never claim a verified identity; another site's token fails the
  signature (each site has its own secret).
"""

import time
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

_SALT = "widget.visitor"
_LEEWAY_S = 30
_MAX_SUB = 200


class BadToken(Exception):
    """A visitor or identity token that is refused; the message says why (it is told)."""


@dataclass(frozen=True, slots=True)
class VisitorPass:
    """What a valid visitor token names."""

    visitor_id: int
    site_id: int
    expires_at: float


# "." between the payload and its signature, not ":": the token travels as a WebSocket
# subprotocol (``bearer.<token>``), where ":" is not allowed.
_SIGNER = signing.Signer(salt=_SALT, sep=".")


def visitor_token(*, visitor_id: int, site_id: int, expires_at: float) -> str:
    return _SIGNER.sign_object({"v": visitor_id, "s": site_id, "e": int(expires_at)})


def anonymous_expiry() -> float:
    return time.time() + settings.WIDGET_VISITOR_TOKEN_DAYS * 86_400


def visitor_pass(token: object, *, site_id: int) -> VisitorPass:
    """The visitor ``token`` names, if it is ours, unexpired and for ``site_id``."""
    if not isinstance(token, str) or not token or len(token) > 500:
        raise BadToken("no visitor token")
    try:
        data = _SIGNER.unsign_object(token)
    except (signing.BadSignature, ValueError):
        raise BadToken("not a visitor token of this platform") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) for k in ("v", "s", "e")):
        raise BadToken("not a visitor token of this platform")
    if data["s"] != site_id:
        raise BadToken("this visitor token is for another site")
    if data["e"] < time.time():
        raise BadToken("the visitor token has expired")
    return VisitorPass(visitor_id=data["v"], site_id=data["s"], expires_at=float(data["e"]))


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified visitor, as the tenant's server vouched for them."""

    external_id: str
    name: str
    email: str
    expires_at: float


def _text(claims: dict[str, Any], name: str, most: int) -> str:
    value = claims.get(name, "")
    if not isinstance(value, str) or len(value) > most or "\x00" in value:
        raise BadToken(f"'{name}' must be a string of at most {most} characters")
    return value.strip()


def identity_claims(token: object, *, secret: str) -> Identity:
    """The identity in the tenant's JWT ``token``, checked: HS256 with ``secret`` (no other
    algorithm, ``none`` least of all), unexpired and short-lived, a ``sub``."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise BadToken("no identity token")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"], "verify_sub": False},  # checked below, said plainly
            leeway=_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise BadToken("the identity token has expired") from None
    except jwt.InvalidSignatureError:
        raise BadToken("the identity token's signature does not match this site's secret") from None
    except jwt.PyJWTError as exc:
        raise BadToken(f"not a valid identity token: {exc}") from None
    expires_at = float(claims["exp"])
    most = settings.WIDGET_IDENTITY_MAX_LIFETIME_S
    if expires_at > time.time() + most + _LEEWAY_S:
        raise BadToken(f"the identity token lives too long: 'exp' at most {most} s ahead")
    external_id = _text(claims, "sub", _MAX_SUB)
    if not external_id:
        raise BadToken("'sub' must name the visitor")
    email = _text(claims, "email", 254)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise BadToken("'email' is not an e-mail address") from None
    return Identity(
        external_id=external_id, name=_text(claims, "name", 200), email=email, expires_at=expires_at
    )
