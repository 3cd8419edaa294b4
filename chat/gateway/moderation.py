"""Moderation before anything goes upstream: the tenant's blocked topics, and PII redaction.

Blocked topics are words or phrases matched case-insensitively on word boundaries ("loan"
blocks "Loan?" but not "loans" unless listed). PII is replaced by typed placeholders
(``[EMAIL]``, ``[CARD]``, ``[IBAN]``, ``[SSN]``, ``[PHONE]``); numbers that only look like a
card or an IBAN (failing the Luhn or mod-97 check) are left alone.

Phone numbers are found by ``phonenumbers`` (Google's libphonenumber metadata): a candidate is
redacted only when it is a valid number of the tenant's region (``PiiPolicy.region``), or of the
country its ``+`` prefix names. Any run of 7 digits used to be a phone number, digits before it
swallowed: "my order 17 12345678" became "my order [PHONE]", so an assistant could not look an
order up and two customers' different questions became one text (``bench/pii_bench.py``
measures both on a labelled set). What the tenant lists to keep (``PiiPolicy.keep``: order
numbers, SKUs, tracking numbers, as templates) is never redacted.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from tenants.selectors import ChatConfig


@lru_cache(maxsize=1024)
def _topics_pattern(topics: tuple[str, ...]) -> re.Pattern[str] | None:
    phrases = [r"\s+".join(map(re.escape, t.split())) for t in topics if t.strip()]
    if not phrases:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(phrases) + r")(?!\w)", re.IGNORECASE)


def blocked_topic(text: str, topics: Iterable[str]) -> str | None:
    """The first blocked topic ``text`` mentions, as written in the message, or None."""
    pattern = _topics_pattern(tuple(topics))
    if pattern is None:
        return None
    found = pattern.search(text)
    return found.group(0) if found else None


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


# In this order: an e-mail's digits are not a phone number, an IBAN's are not a card's.
_PII: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    ("EMAIL", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), None),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), lambda s: iban_valid(s.replace(" ", ""))),
    ("CARD", re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])"), lambda s: luhn_valid(_digits(s))),
    ("SSN", re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"), None),
]
# Fewer digits than this in a text: no phone number in it (the matcher is not run at all).
_PHONE_MIN_DIGITS = 7


@dataclass(frozen=True, slots=True)
class PiiPolicy:
    """A tenant's redaction: the region whose national phone numbers are recognised (ISO 3166
    alpha-2; numbers with a ``+`` prefix are recognised whatever it is), and what to keep."""

    region: str = "US"
    keep: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: ChatConfig) -> "PiiPolicy | None":
        """The policy of a tenant's config (``tenants.selectors.ChatConfig``); None when the
        tenant does not filter PII."""
        if not config.pii_filter:
            return None
        return cls(region=config.pii_region, keep=tuple(config.pii_keep_patterns))


def keep_pattern(template: str) -> str:
    """A keep template as a regular expression: ``#`` a digit, ``?`` a letter or digit, ``*`` a
    run of letters and digits, a space any run of spaces, the rest itself (any case). No group
    nests a quantifier, so matching stays linear whatever the text."""
    parts = []
    for char in template.strip():
        if char == "#":
            parts.append(r"\d")
        elif char == "?":
            parts.append(r"[^\W_]")
        elif char == "*":
            parts.append(r"[^\W_]+")
        elif char.isspace():
            parts.append(r"\s+")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


@lru_cache(maxsize=256)
def _keep_regex(keep: tuple[str, ...]) -> re.Pattern[str] | None:
    alternatives = [keep_pattern(t) for t in keep if t.strip()]
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def _phones(text: str, region: str, found: Counter[str]) -> str:
    if sum(c.isdigit() for c in text) < _PHONE_MIN_DIGITS:
        return text
    matches = list(
        phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.STRICT_GROUPING)
    )
    for match in reversed(matches):
        text = text[: match.start] + "[PHONE]" + text[match.end :]
        found["PHONE"] += 1
    return text


def _redact_piece(text: str, region: str, found: Counter[str]) -> str:
    for kind, pattern, check in _PII:

        def replace(
            match: re.Match[str], kind: str = kind, check: Callable[[str], bool] | None = check
        ) -> str:
            if check is not None and not check(match.group(0)):
                return match.group(0)
            found[kind] += 1
            return f"[{kind}]"

        text = pattern.sub(replace, text)
    return _phones(text, region, found)


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    found: Counter[str]  # placeholder kind -> how many were replaced


def redact_pii(text: str, policy: PiiPolicy = PiiPolicy()) -> Redaction:
    """``text`` with its PII replaced; what ``policy.keep`` matches is left as it is."""
    found: Counter[str] = Counter()
    keep = _keep_regex(policy.keep)
    if keep is None:
        return Redaction(text=_redact_piece(text, policy.region, found), found=found)
    pieces, start = [], 0
    for match in keep.finditer(text):
        pieces += [_redact_piece(text[start : match.start()], policy.region, found), match.group(0)]
        start = match.end()
    pieces.append(_redact_piece(text[start:], policy.region, found))
    return Redaction(text="".join(pieces), found=found)


class BlockedTopic(Exception):
    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.topic = topic


def scrubbed(*, pii: PiiPolicy | None, text: str) -> str:
    """User text kept beside the messages (an escalation reason, a feedback comment): redacted
    as the tenant's messages are, so that no copy holds what the filter took out."""
    return redact_pii(text, pii).text if pii is not None else text


def moderate(*, blocked_topics: Iterable[str], pii: PiiPolicy | None, text: str) -> Redaction:
    """The text to send upstream and store, or ``BlockedTopic``: nothing goes upstream."""
    topic = blocked_topic(text, blocked_topics)
    if topic is not None:
        raise BlockedTopic(topic)
    return redact_pii(text, pii) if pii is not None else Redaction(text=text, found=Counter())
