"""The domains a widget site may be embedded on, as its owners write them: a host name
(``shop.example.com``), a wildcard for its subdomains (``*.example.com``: any depth, not the
domain itself, as in CSP), an optional port (``localhost:8080``). No scheme, path, user or IP
range: what a browser's ``Origin`` and a ``frame-ancestors`` source can say, and nothing a
careless entry could widen to every site (``*``, ``*.com``)."""

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

MAX_DOMAINS = 50
_LABEL = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_HOST = re.compile(rf"(?P<wildcard>\*\.)?(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?")


def domain_normalized(entry: str) -> str:
    """``entry`` lower-cased and checked; a ``ValidationError`` says what is wrong with it."""
    if not isinstance(entry, str):
        raise ValidationError("each domain is a string")
    domain = entry.strip().lower().rstrip(".")
    if "://" in domain or "/" in domain:
        raise ValidationError(f"“{entry}”: only the domain (no https://, no path)")
    if not domain.isascii():
        raise ValidationError(f"“{entry}”: write an internationalized domain in its xn-- form")
    found = _HOST.fullmatch(domain)
    if found is None or len(found["host"]) > 253:
        raise ValidationError(f"“{entry}”: not a domain (e.g. shop.example.com, *.example.com)")
    if found["port"] is not None and not 0 < int(found["port"]) < 65536:
        raise ValidationError(f"“{entry}”: the port is out of range")
    if found["wildcard"] and found["host"].count(".") < 1:
        raise ValidationError(f"“{entry}”: a wildcard needs a registered domain under it (*.example.com)")
    return domain


def validate_allowed_domains(entries: object) -> None:
    """A model validator: a list of at most ``MAX_DOMAINS`` distinct domains."""
    if not isinstance(entries, list):
        raise ValidationError("a list of domains")
    if len(entries) > MAX_DOMAINS:
        raise ValidationError(f"at most {MAX_DOMAINS} domains")
    normalized = [domain_normalized(entry) for entry in entries]
    if len(set(normalized)) != len(normalized):
        raise ValidationError("a domain is listed twice")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_allowed(domains: list[str], origin: str) -> bool:
    """Whether a page of ``origin`` (``https://shop.example.com``) may embed the widget: its host
    is listed, or under a listed ``*.`` wildcard (not the wildcard's own domain); an entry without
    a port allows the scheme's default port only, as ``frame-ancestors`` does."""
    try:
        parsed = urlsplit(origin)
        port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme)
    except ValueError:
        return False
    host = (parsed.hostname or "").rstrip(".")
    if parsed.scheme not in _DEFAULT_PORTS or not host or parsed.path or parsed.query:
        return False
    for entry in domains:
        found = _HOST.fullmatch(entry)
        if found is None:
            continue
        wanted_port = int(found["port"]) if found["port"] else _DEFAULT_PORTS[parsed.scheme]
        if port != wanted_port:
            continue
        if found["wildcard"] and host.endswith("." + found["host"]):
            return True
        if not found["wildcard"] and host == found["host"]:
            return True
    return False
