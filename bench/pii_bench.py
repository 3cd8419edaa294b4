"""How well the PII filter tells a phone number from an order number, on a labelled set, beside
the regular expression it replaces (issue 30, 8), in one run.

    .venv/bin/python bench/pii_bench.py [--seed 7] [--per-kind 300]

Each labelled message holds one candidate in a support sentence ("my order {x} has not
arrived"): a phone number (US numbers in eight notations; other countries' with their "+"
prefix) or something else with seven digits or more (order, ticket, invoice and account
numbers, tracking numbers of UPS, USPS and FedEx, EAN-13 and ISBN codes, dates and times,
amounts, IP addresses, postal codes, a short number before an order number). A phone number is
found when the message comes out with exactly it replaced by ``[PHONE]`` (nothing before or
after it swallowed); anything else is a miss. A ``[PHONE]`` anywhere in a message whose
candidate is not a phone number, or a phone replaced with more than itself, is a wrong
redaction. Precision = found / (found + wrong), recall = found / phone numbers.

Also reported: how many different messages without a phone number came out as one and the
same text (what made one exact-cache entry answer two customers), the CPU per message, and the
same set for a tenant that lists its order-number template to keep (some order numbers are
valid US phone numbers; only a template tells them apart).
"""

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import phonenumbers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat.gateway.moderation import PiiPolicy, redact_pii  # noqa: E402

# The phone step the platform used before (chat/gateway/moderation.py until issue 30).
_OLD_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_OLD_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{6,}\d(?!\w)")


def old_redact(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        digits = re.sub(r"\D", "", found)
        return "[PHONE]" if 7 <= len(digits) <= 15 and not _OLD_DATE.fullmatch(found) else found

    return _OLD_PHONE.sub(replace, text)


SENTENCES = [
    "Hi, my order {x} has not arrived yet.",
    "Can you check {x} for me please?",
    "{x} is what I was given, what now?",
    "I called about {x} yesterday and nobody answered",
    "Reference: {x}. Thanks!",
]
US_AREAS = ["212", "415", "312", "617", "206", "305", "713", "404", "503", "702", "646", "818"]
ABROAD = ["GB", "DE", "FR", "IN", "AU", "BR", "JP", "ES", "IT", "NL", "MX", "CH"]


def _us_number(rng: random.Random) -> str:
    while True:
        raw = rng.choice(US_AREAS) + str(rng.randint(200, 999)) + f"{rng.randint(0, 9999):04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(raw, "US")):
            return raw


def us_phone(rng: random.Random) -> str:
    n = _us_number(rng)
    area, exchange, line = n[:3], n[3:6], n[6:]
    return rng.choice(
        [
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"{area} {exchange} {line}",
            n,
            f"+1 {area} {exchange} {line}",
            f"+1-{area}-{exchange}-{line}",
            f"1-{area}-{exchange}-{line}",
        ]
    )


def foreign_phone(rng: random.Random) -> str:
    region = rng.choice(ABROAD)
    kind = rng.choice([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    national = phonenumbers.national_significant_number(example)  # Italy's keeps its 0
    while True:
        varied = national[:-2] + f"{rng.randint(0, 99):02d}"
        number = phonenumbers.parse(f"+{example.country_code}{varied}")
        if phonenumbers.is_valid_number(number):
            style = rng.choice(
                [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164]
            )
            return phonenumbers.format_number(number, style)


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


NOT_PHONES: dict[str, Callable[[random.Random], str]] = {
    "order number": lambda r: _digits(r, r.randint(7, 12)),
    "order with a short number before": lambda r: f"{r.randint(1, 99)} {_digits(r, 8)}",
    "order #": lambda r: f"#{_digits(r, r.randint(7, 10))}",
    "prefixed id": lambda r: (
        f"{r.choice(['ORD', 'INV', 'TCK', 'ACC'])}-{r.randint(2019, 2026)}-{_digits(r, 7)}"
    ),
    "UPS tracking": lambda r: (
        "1Z" + "".join(r.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16))
    ),
    "USPS tracking": lambda r: "94" + _digits(r, 20),
    "FedEx tracking": lambda r: _digits(r, 12),
    "EAN-13": lambda r: _digits(r, 13),
    "ISBN": lambda r: f"978-{r.randint(0, 9)}-{r.randint(10, 99)}-{_digits(r, 6)}-{r.randint(0, 9)}",
    "date and time": lambda r: (
        f"{r.randint(2019, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}"
    ),
    "date": lambda r: f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(2019, 2026)}",
    "amount": lambda r: (
        f"${r.randint(1, 9)},{r.randint(100, 999)},{r.randint(100, 999)}.{r.randint(0, 99):02d}"
    ),
    "IP address": lambda r: ".".join(str(r.randint(10, 250)) for _ in range(4)),
    "ZIP+4": lambda r: f"{_digits(r, 5)}-{_digits(r, 4)}",
    "order that is a valid US number": lambda r: _us_number(r),
}
# The template a tenant whose order numbers are ten digits lists to keep them.
KEEP = ("order ##########",)


def labelled(seed: int, per_kind: int) -> list[tuple[str, str, str | None]]:
    """(kind, message, the phone number in it or None)."""
    rng = random.Random(seed)
    items: list[tuple[str, str, str | None]] = []
    for kind, make in [("US phone", us_phone), ("phone abroad (+)", foreign_phone)]:
        for _ in range(per_kind * 3):
            phone = make(rng)
            items.append((kind, rng.choice(SENTENCES).format(x=phone), phone))
    for kind, make_other in NOT_PHONES.items():
        for _ in range(per_kind):
            sentence = SENTENCES[0] if "order" in kind else rng.choice(SENTENCES)
            items.append((kind, sentence.format(x=make_other(rng)), None))
    return items


def measure(redact: Callable[[str], str], items: list[tuple[str, str, str | None]]) -> dict[str, object]:
    found = wrong = phones = 0
    missed_by_kind: Counter[str] = Counter()
    wrong_by_kind: Counter[str] = Counter()
    outputs: Counter[str] = Counter()
    started = time.process_time()
    results = [redact(message) for _, message, _ in items]
    cpu = time.process_time() - started
    for (kind, message, phone), out in zip(items, results, strict=True):
        if phone is not None:
            phones += 1
            if out == message.replace(phone, "[PHONE]"):
                found += 1
            else:
                missed_by_kind[kind] += 1
                wrong += "[PHONE]" in out  # a phone redacted with more than itself
        else:
            outputs[out] += 1
            if "[PHONE]" in out:
                wrong += 1
                wrong_by_kind[kind] += 1
    non_phones = sum(outputs.values())
    return {
        "precision": round(found / (found + wrong), 4) if found + wrong else None,
        "recall": round(found / phones, 4),
        "phones": phones,
        "wrong_redactions": wrong,
        "wrong_by_kind": dict(wrong_by_kind.most_common()),
        "missed_by_kind": dict(missed_by_kind.most_common()),
        "messages_without_a_phone": non_phones,
        "of_them_merged_into_another_text": non_phones - len(outputs),
        "cpu_us_per_message": round(cpu / len(items) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-kind", type=int, default=300)
    args = parser.parse_args()
    items = labelled(args.seed, args.per_kind)
    report = {
        "messages": len(items),
        "regex (before issue 30)": measure(old_redact, items),
        "phonenumbers, region US": measure(lambda t: redact_pii(t, PiiPolicy(region="US")).text, items),
        f"phonenumbers, region US, keep {list(KEEP)}": measure(
            lambda t: redact_pii(t, PiiPolicy(region="US", keep=KEEP)).text, items
        ),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
