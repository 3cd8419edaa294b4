"""Moderation before anything goes upstream: the tenant's blocked topics, and PII redaction.

Blocked topics are words or phrases matched case-insensitively on word boundaries ("loan"
blocks "Loan?" but not "loans" unless listed). PII is replaced by typed placeholders
(``[EMAIL]``, ``[CARD]``, ``[IBAN]``, ``[SSN]``, ``[PHONE]``); numbers that only look like a
card or an IBAN (failing the Luhn or mod-97 check) are left alone.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache


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


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")


def _phone_like(text: str) -> bool:
    return 7 <= len(_digits(text)) <= 15 and not _DATE.fullmatch(text)


# In this order: an e-mail's digits are not a phone number, an IBAN's are not a card's.
_PII: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    ("EMAIL", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), None),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), lambda s: iban_valid(s.replace(" ", ""))),
    ("CARD", re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), lambda s: luhn_valid(_digits(s))),
    ("SSN", re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"), None),
    ("PHONE", re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{6,}\d(?!\w)"), _phone_like),
]


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    found: Counter[str]  # placeholder kind -> how many were replaced


def redact_pii(text: str) -> Redaction:
    found: Counter[str] = Counter()
    for kind, pattern, check in _PII:

        def replace(
            match: re.Match[str], kind: str = kind, check: Callable[[str], bool] | None = check
        ) -> str:
            if check is not None and not check(match.group(0)):
                return match.group(0)
            found[kind] += 1
            return f"[{kind}]"

        text = pattern.sub(replace, text)
    return Redaction(text=text, found=found)


class BlockedTopic(Exception):
    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.topic = topic


def scrubbed(*, pii_filter: bool, text: str) -> str:
    """User text kept beside the messages (an escalation reason, a feedback comment): redacted
    as the tenant's messages are, so that no copy holds what the filter took out."""
    return redact_pii(text).text if pii_filter else text


def moderate(*, blocked_topics: Iterable[str], pii_filter: bool, text: str) -> Redaction:
    """The text to send upstream and store, or ``BlockedTopic``: nothing goes upstream."""
    topic = blocked_topic(text, blocked_topics)
    if topic is not None:
        raise BlockedTopic(topic)
    return redact_pii(text) if pii_filter else Redaction(text=text, found=Counter())
