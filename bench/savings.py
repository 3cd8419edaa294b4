"""What the caches and model routing save, on a replayed trace of support messages.

    .venv/bin/python bench/savings.py                 # 1,000 messages, both runs, P/R table
    .venv/bin/python bench/savings.py --messages 300  # quicker

The script generates a trace (seeded) of support-style messages: frequent questions asked again
word for word or with other casing and spacing, paraphrases of them, questions with their own
details (order numbers, products) that must not be answered from another's cache entry, and
follow-ups inside a conversation. It replays the trace through the platform (the README's run
command on PostgreSQL + Redis) against the fake OpenAI server in its own process, twice, each
time for a fresh tenant whose default model is gpt-4o:
  off  no caches, no routing: every message goes upstream to gpt-4o;
  on   exact + semantic cache (the threshold given) and routing simple/moderate -> gpt-4o-mini,
       complex -> gpt-4o.
It reports upstream calls and cost (from the ledger) for both, and the semantic cache's
precision and recall on the trace's labelled pairs of questions at thresholds 0.80-0.95.
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fake_calls, platform_and_fake_llm  # noqa: E402
from bench.ws_bench import raise_limits  # noqa: E402
from tests.live import LivePlatform  # noqa: E402

# Frequent questions, each asked in several ways.
INTENTS: dict[str, list[str]] = {
    "reset_password": [
        "How do I reset my password?",
        "How can I reset my password?",
        "I forgot my password, how do I reset it?",
        "What's the way to reset my password?",
    ],
    "opening_hours": [
        "What are your opening hours?",
        "When are you open?",
        "What time does support open?",
        "What are your support hours?",
    ],
    "cancel_subscription": [
        "How do I cancel my subscription?",
        "How can I cancel my subscription?",
        "I want to cancel my subscription, how?",
        "Where do I cancel my subscription?",
    ],
    "refund_policy": [
        "What is your refund policy?",
        "Can I get a refund?",
        "How do refunds work?",
        "Do you offer refunds?",
    ],
    "shipping_time": [
        "How long does shipping take?",
        "How long will delivery take?",
        "When will my order arrive usually?",
        "What are the delivery times?",
    ],
    "international_shipping": [
        "Do you ship internationally?",
        "Do you deliver abroad?",
        "Can you ship to other countries?",
        "Is international shipping available?",
    ],
    "change_email": [
        "How do I change my email address?",
        "How can I update my email address?",
        "I need to change the email on my account.",
        "Where do I change my account email?",
    ],
    "payment_methods": [
        "What payment methods do you accept?",
        "Which payment methods can I use?",
        "Can I pay with PayPal or a credit card?",
        "What ways can I pay?",
    ],
    "invoice_download": [
        "Where can I download my invoice?",
        "How do I get a copy of my invoice?",
        "Where are my invoices?",
        "How can I download invoices?",
    ],
    "delete_account": [
        "How do I delete my account?",
        "How can I close my account?",
        "I want to delete my account.",
        "Where do I remove my account?",
    ],
    "two_factor": [
        "How do I enable two-factor authentication?",
        "How can I turn on 2FA?",
        "Where do I set up two-factor authentication?",
        "Can I enable 2FA on my account?",
    ],
    "upgrade_plan": [
        "How do I upgrade my plan?",
        "How can I switch to a higher plan?",
        "I want to upgrade my subscription plan.",
        "Where do I change to a bigger plan?",
    ],
    "pause_subscription": [
        "Can I pause my subscription?",
        "Is it possible to pause my subscription?",
        "How do I put my subscription on hold?",
        "Can I freeze my plan for a month?",
    ],
    "contact_human": [
        "How can I talk to a human?",
        "Can I speak to a real person?",
        "How do I reach a support agent?",
        "I want to talk to someone from support.",
    ],
    "track_order": [
        "How do I track my order?",
        "Where can I track my package?",
        "How can I see where my order is?",
        "Is there a tracking page for orders?",
    ],
    "return_item": [
        "How do I return an item?",
        "How can I send a product back?",
        "What is the return process?",
        "I want to return something I bought.",
    ],
}
# Questions with details of their own: similar wording, different answers.
LONG_TAIL = [
    "Where is my order #{n}? It was due {day}.",
    "My order #{n} arrived damaged, can I get a replacement?",
    "I was charged twice for order #{n} on {day}, please refund one charge.",
    "Does the {product} work with the {other}?",
    "Is the {product} in stock in size {size}?",
    "Explain step by step why my invoice #{n} differs from the quote, and compare both line by line.",
    "Can you analyze why my {product} keeps disconnecting and suggest a troubleshooting strategy?",
]
FOLLOW_UPS = ["Thanks, and what about the second one?", "Can you say that more simply?", "OK, thanks!"]
PRODUCTS = ["X200 headset", "Nova lamp", "Arc keyboard", "Pico router", "Flux charger", "Orbit camera"]
DAYS = ["Monday", "Tuesday", "last week", "yesterday", "on the 3rd"]


@dataclass(frozen=True)
class Message:
    text: str
    intent: str  # what it asks: equal intents, equal answers
    faq: bool = True  # a frequent question (else one with details of its own)
    follow_up: str | None = None  # sent after it in the same conversation


def noisy(text: str, rng: random.Random) -> str:
    """The same words as typed by someone else: casing, spacing, punctuation."""
    variant = rng.choice([text, text.lower(), text.upper(), f"  {text}  ", text.rstrip("?.") + " ?"])
    return variant if rng.random() < 0.8 else f"hi, {variant[0].lower()}{variant[1:]}"


def long_tail(rng: random.Random) -> tuple[str, str]:
    """A question with details of its own, and a label naming what it asks: two questions with
    the same label have the same answer ("does A work with B" is "does B work with A")."""
    template = rng.choice(LONG_TAIL)
    product, other = rng.sample(PRODUCTS, 2)
    fields = {
        "n": rng.randint(10_000, 99_999),
        "day": rng.choice(DAYS),
        "product": product,
        "other": other,
        "size": rng.choice("SML"),
    }
    used = sorted(f"{name}={value}" for name, value in fields.items() if "{" + name + "}" in template)
    if "{other}" in template:  # symmetric in the two products
        used = sorted([*(u for u in used if not u.startswith(("product=", "other="))), product, other])
    return template.format(**fields), f"{LONG_TAIL.index(template)}:{'|'.join(used)}"


def make_trace(count: int, seed: int) -> list[Message]:
    rng = random.Random(seed)
    names = list(INTENTS)
    weights = [1 / (rank + 1) for rank in range(len(names))]  # a few questions dominate
    trace: list[Message] = []
    total = 0
    while total < count:
        if rng.random() < 0.65:
            intent = rng.choices(names, weights)[0]
            text, label, faq = noisy(rng.choice(INTENTS[intent]), rng), intent, True
        else:
            (text, label), faq = long_tail(rng), False
        follow = rng.choice(FOLLOW_UPS) if rng.random() < 0.15 and total + 2 <= count else None
        trace.append(Message(text=text, intent=label, faq=faq, follow_up=follow))
        total += 2 if follow else 1
    return trace


# Frequent questions close in wording whose answers differ: the hard negatives.
NEAR_INTENTS = [
    ("cancel_subscription", "pause_subscription"),
    ("cancel_subscription", "delete_account"),
    ("cancel_subscription", "upgrade_plan"),
    ("change_email", "reset_password"),
    ("track_order", "shipping_time"),
    ("return_item", "refund_policy"),
    ("international_shipping", "shipping_time"),
]


def labelled_pairs(rng: random.Random) -> list[tuple[str, str, bool]]:
    """Pairs of questions, True when one answer fits both: every pair of phrasings of an intent,
    and as many other pairs: a third of other intents close in wording, a third of any other
    intents, a third of questions with details of their own (same template, other details)."""
    positives = [
        (a, b, True) for phrasings in INTENTS.values() for a, b in itertools.combinations(phrasings, 2)
    ]
    others: list[tuple[str, str, bool]] = []
    names = list(INTENTS)
    while len(others) < len(positives):
        kind = len(others) % 3
        if kind == 0:
            one, two = rng.choice(NEAR_INTENTS)
        elif kind == 1:
            one, two = rng.sample(names, 2)
        if kind < 2:
            others.append((rng.choice(INTENTS[one]), rng.choice(INTENTS[two]), False))
        else:
            (one_text, one_label), (two_text, two_label) = long_tail(rng), long_tail(rng)
            others.append((one_text, two_text, one_label == two_label))
    return positives + others


def precision_recall(thresholds: list[float], seed: int) -> list[dict[str, Any]]:
    from chat.gateway.semantic_cache import embedder, signature

    pairs = labelled_pairs(random.Random(seed))
    left = embedder().embed_now([a for a, _, _ in pairs])
    right = embedder().embed_now([b for _, b, _ in pairs])
    # The cache's matcher: cosine, and the same numbers in both questions.
    same_numbers = np.array([signature(a) == signature(b) for a, b, _ in pairs])
    similarity = np.where(same_numbers, (left * right).sum(axis=1), -1.0)
    rows = []
    for threshold in thresholds:
        predicted = similarity >= threshold
        truth = [same for _, _, same in pairs]
        tp = sum(1 for p, t in zip(predicted, truth, strict=True) if p and t)
        fp = sum(1 for p, t in zip(predicted, truth, strict=True) if p and not t)
        fn = sum(1 for p, t in zip(predicted, truth, strict=True) if not p and t)
        rows.append(
            {
                "threshold": threshold,
                "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                "recall": round(tp / (tp + fn), 3),
                "pairs": len(pairs),
            }
        )
    return rows


def trace_hits(trace: list[Message], thresholds: list[float]) -> list[dict[str, Any]]:
    """The caches' decisions on the trace's first messages, replayed offline with the same
    embeddings: hits, and wrong hits (an answer given to a question it does not fit)."""
    from chat.gateway.response_cache import normalize
    from chat.gateway.semantic_cache import embedder, signature

    vectors = embedder().embed_now([m.text for m in trace])
    rows = []
    for threshold in thresholds:
        seen: dict[str, str] = {}  # normalized text -> label
        stored: list[tuple[np.ndarray, str, str]] = []
        exact = semantic = wrong = 0
        for message, vector in zip(trace, vectors, strict=True):
            label = message.intent
            key = normalize(message.text)
            if key in seen:
                exact += 1
                continue
            numbers = signature(message.text)
            scores = [float(v @ vector) if s == numbers else -1.0 for v, _, s in stored]
            if scores and max(scores) >= threshold:
                semantic += 1
                wrong += stored[scores.index(max(scores))][1] != label
                continue
            seen[key] = label
            stored.append((vector, label, numbers))
        rows.append(
            {
                "threshold": threshold,
                "exact_hits": exact,
                "semantic_hits": semantic,
                "wrong_semantic_hits": wrong,
            }
        )
    return rows


def new_tenant(platform: LivePlatform, *, caches: bool, routing: bool, threshold: float) -> tuple[str, str]:
    staff = platform.token("admin", platform.passwords["admin"])
    slug = f"sav{uuid.uuid4().hex[:6]}"
    status, body = platform.http(
        "POST", "/api/v1/tenants/", {"slug": slug, "name": slug, "tier": "unlimited"}, staff
    )
    assert status == 201, body
    username, password = f"u{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    status, body = platform.http(
        "POST",
        f"/api/v1/tenants/{slug}/members/",
        {"username": username, "password": password, "role": "member"},
        staff,
    )
    assert status == 201, body
    raise_limits(platform, slug)
    platform.sql(
        "UPDATE tenants_tenant SET model = 'gpt-4o', system_prompt = %s, exact_cache_enabled = %s,"
        " semantic_cache_enabled = %s, semantic_cache_threshold = %s, routing_model_simple = %s,"
        " routing_model_moderate = %s, routing_model_complex = %s, config_version = config_version + 1"
        " WHERE slug = %s",
        [
            "You are the support assistant of an online shop. Answer briefly and precisely.",
            caches,
            caches,
            threshold,
            "gpt-4o-mini" if routing else "",
            "gpt-4o-mini" if routing else "",
            "gpt-4o" if routing else "",
            slug,
        ],
    )
    return slug, platform.token(username, password, slug)


async def replay(
    platform: LivePlatform, token: str, trace: list[Message], concurrency: int
) -> dict[str, int]:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    for message in trace:
        queue.put_nowait(message)
    cached = {"exact_or_semantic": 0, "answers": 0}

    async def ask(ws: Any, text: str) -> None:
        await ws.send(json.dumps({"type": "message", "content": text, "client_id": str(uuid.uuid4())}))
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "response" and frame.get("cached"):
                cached["exact_or_semantic"] += 1
            if frame["type"] == "error":
                raise RuntimeError(frame)
            if frame["type"] == "done":
                cached["answers"] += 1
                return

    async def worker() -> None:
        while not queue.empty():
            message = queue.get_nowait()
            async with connect(f"{platform.ws_url}/ws/chat/?token={token}", max_queue=None) as ws:
                assert json.loads(await ws.recv())["type"] == "ready"
                await ask(ws, message.text)
                if message.follow_up:
                    await ask(ws, message.follow_up)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return cached


def ledger(platform: LivePlatform, slug: str) -> dict[str, Any]:
    with psycopg.connect(f"postgresql://root@127.0.0.1:5432/{platform.database}") as conn:
        rows = conn.execute(
            "SELECT u.model, count(*), sum(u.input_tokens), sum(u.output_tokens), sum(u.cost_usd),"
            " sum(CASE WHEN u.cached THEN 1 ELSE 0 END)"
            " FROM billing_usagerecord u JOIN tenants_tenant t ON t.id = u.tenant_id"
            " WHERE t.slug = %s AND u.purpose = 'answer' GROUP BY u.model ORDER BY u.model",
            [slug],
        ).fetchall()
    by_model = {
        model: {
            "answers": n,
            "input_tokens": int(i),
            "output_tokens": int(o),
            "cost_usd": f"{c:.6f}",
            "cache_hits": int(h),
        }
        for model, n, i, o, c, h in rows
    }
    total = sum((Decimal(v["cost_usd"]) for v in by_model.values()), Decimal(0))
    return {"by_model": by_model, "cost_usd": f"{total:.6f}"}


def run_once(
    platform: LivePlatform, fake_url: str, trace: list[Message], *, on: bool, args: argparse.Namespace
) -> dict[str, Any]:
    from chat.history.background import SUMMARIZER_PROMPT, TITLER_PROMPT

    slug, token = new_tenant(platform, caches=on, routing=on, threshold=args.threshold)
    calls_before = len(fake_calls(fake_url))
    started = time.perf_counter()
    cached = asyncio.run(replay(platform, token, trace, args.concurrency))
    elapsed = time.perf_counter() - started
    everything = fake_calls(fake_url)[calls_before:]
    # Titles and summaries are the platform's background work, the same in both runs.
    calls = [c for c in everything if c["system"] not in (SUMMARIZER_PROMPT, TITLER_PROMPT)]
    return {
        "upstream_calls": len(calls),
        "background_calls (titles, summaries)": len(everything) - len(calls),
        "upstream_by_model": {
            m: sum(1 for c in calls if c["model"] == m) for m in sorted({c["model"] for c in calls})
        },
        "answers": cached["answers"],
        "cache_hits": cached["exact_or_semantic"],
        "seconds": round(elapsed, 1),
        **ledger(platform, slug),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--threshold", type=float, default=0.95, help="semantic cache threshold of the 'on' run"
    )
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--answer-tokens", type=int, default=150)
    parser.add_argument("--quality-only", action="store_true", help="only the precision/recall tables")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
    import django

    django.setup()

    trace = make_trace(args.messages, args.seed)
    faq = sum(1 for m in trace if m.faq)
    distinct = len({" ".join(m.text.casefold().split()) for m in trace})
    print(
        f"trace: {sum(2 if m.follow_up else 1 for m in trace)} messages in {len(trace)} conversations; "
        f"{faq} frequent questions, {distinct} distinct first messages",
        file=sys.stderr,
    )
    thresholds = [0.80, 0.85, 0.90, 0.95]
    quality = {
        "semantic_precision_recall": precision_recall(thresholds, args.seed),
        "trace_cache_decisions": trace_hits(trace, thresholds),
    }
    if args.quality_only:
        print(json.dumps(quality, indent=2))
        return
    fake_args = ("--tokens", str(args.answer_tokens), "--token-delay", "0.0005")
    env = {"LOG_LEVEL": "WARNING"}
    with platform_and_fake_llm(prefix="savings-", extra_env=env, fake_args=fake_args) as (platform, fake_url):
        results: dict[str, Any] = {"trace": {"messages": args.messages, "seed": args.seed}}
        for name, on in (("off", False), ("on", True)):
            print(f"-- {name}", file=sys.stderr, flush=True)
            results[name] = run_once(platform, fake_url, trace, on=on, args=args)
            print(json.dumps(results[name]), file=sys.stderr, flush=True)
        off, on_ = results["off"], results["on"]
        results["saved"] = {
            "upstream_calls_percent": round(100 * (1 - on_["upstream_calls"] / off["upstream_calls"]), 1),
            "cost_percent": round(100 * (1 - float(on_["cost_usd"]) / float(off["cost_usd"])), 1),
        }
        print(json.dumps(results | quality, indent=2))


if __name__ == "__main__":
    main()
