"""A week of a support chatbot's traffic, as ``bench/savings.py`` replays it.

Conversations arrive over ``days`` days, more in business hours than at night. Each opens with a
frequent question (one of ``support_intents.INTENTS``, intents drawn with a gentle skew: the most
asked is ~10 % of them, not a fifth), a question with details of its own (an order number, an
amount, a product), or a greeting; a phrasing is typed the way people type: typos, casing,
punctuation, a greeting before or a word of context around it. Some conversations go on with
follow-ups that only make sense after the answer.
"""

import random
from dataclasses import dataclass, field

from bench.support_intents import DAYS, DETAILED, FOLLOW_UPS, INTENTS, PRODUCTS

GREETINGS = ["hi", "hello", "hey there", "good morning", "hi, I have a question"]
CONTEXTS = [
    "I ordered from you last week. ",
    "Quick question: ",
    "I'm a new customer. ",
    "Sorry to bother you, ",
    "",
]
# Hours of the day weighted as support traffic is (UTC, one market): quiet at night.
HOURLY = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2]


@dataclass(frozen=True)
class Turn:
    text: str
    intent: str  # what it asks ("" for a follow-up or a greeting: no answer of its own)


@dataclass(frozen=True)
class Conversation:
    at_s: float  # seconds from the trace's start
    turns: list[Turn] = field(default_factory=list)


def typo(text: str, rng: random.Random) -> str:
    """One slip of the fingers: two letters swapped, one doubled or one dropped."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 4:
        return text
    i = rng.choice(letters[1:-1])
    kind = rng.randrange(3)
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i + 1 :]


def typed(phrasing: str, rng: random.Random) -> str:
    """A phrasing as one customer types it."""
    text = phrasing
    if rng.random() < 0.3:
        text = typo(text, rng)
    roll = rng.random()
    if roll < 0.2:
        text = text.lower()
    elif roll < 0.3:
        text = text.rstrip("?.!") + ("??" if rng.random() < 0.5 else "")
    if rng.random() < 0.15:
        text = f"{rng.choice(GREETINGS)}, {text[0].lower()}{text[1:]}"
    elif rng.random() < 0.15:
        text = rng.choice(CONTEXTS) + text[0].lower() + text[1:]
    if rng.random() < 0.08:
        text += " thanks"
    return text


def detailed(template: str, rng: random.Random) -> tuple[str, str]:
    """A question with details of its own, and what its answer depends on: its template and the
    details it names (the day it mentions aside; two products as a pair, in either order)."""
    product, other = rng.sample(PRODUCTS, 2)
    fields = {
        "n": rng.randint(10_000, 99_999),
        "day": rng.choice(DAYS),
        "amount": f"${rng.randint(5, 400)}.{rng.randint(0, 99):02d}",
        "product": product,
        "other": other,
        "size": rng.choice(["S", "M", "L", "XL"]),
        "months": rng.randint(2, 30),
        "year": rng.randint(2015, 2025),
    }
    named = {name for name in fields if "{" + name + "}" in template} - {"day"}
    products = sorted(str(fields[name]) for name in named & {"product", "other"})
    rest = sorted(f"{name}={fields[name]}" for name in named - {"product", "other"})
    return template.format(**fields), f"{DETAILED.index(template)}:{'|'.join(products + rest)}"


def week(messages: int, days: float, seed: int) -> list[Conversation]:
    """About ``messages`` messages in conversations spread over ``days`` days, by arrival."""
    rng = random.Random(seed)
    intents = list(INTENTS)
    rng.shuffle(intents)
    weights = [1 / (rank + 1) ** 0.6 for rank in range(len(intents))]
    conversations = []
    total = 0
    while total < messages:
        day = rng.randrange(max(1, int(days)))
        hour = rng.choices(range(24), HOURLY)[0]
        at_s = min(days * 86_400 - 1, (day * 24 + hour) * 3600 + rng.random() * 3600)
        roll = rng.random()
        if roll < 0.62:
            intent = rng.choices(intents, weights)[0]
            opener = Turn(typed(rng.choice(INTENTS[intent]), rng), intent)
        elif roll < 0.95:
            text, details = detailed(rng.choice(DETAILED), rng)
            opener = Turn(typed(text, rng), f"detail:{details}")
        else:
            opener = Turn(rng.choice(GREETINGS), "")
        turns = [opener]
        while rng.random() < (0.45 if len(turns) == 1 else 0.35) and len(turns) < 4:
            turns.append(Turn(rng.choice(FOLLOW_UPS), ""))
        conversations.append(Conversation(at_s, turns))
        total += len(turns)
    return sorted(conversations, key=lambda c: c.at_s)


def describe(conversations: list[Conversation]) -> dict[str, object]:
    """What the trace holds, for the report: how much of it can repeat at all."""
    openers = [c.turns[0] for c in conversations]
    normalized = [" ".join(t.text.casefold().split()) for t in openers]
    seen: set[str] = set()
    repeats = 0
    for text in normalized:
        repeats += text in seen
        seen.add(text)
    by_intent: dict[str, int] = {}
    for turn in openers:
        if turn.intent and not turn.intent.startswith("detail:"):
            by_intent[turn.intent] = by_intent.get(turn.intent, 0) + 1
    return {
        "conversations": len(conversations),
        "messages": sum(len(c.turns) for c in conversations),
        "follow_ups": sum(len(c.turns) - 1 for c in conversations),
        "frequent_question_openers": sum(by_intent.values()),
        "detail_question_openers": sum(1 for t in openers if t.intent.startswith("detail:")),
        "greeting_openers": sum(1 for t in openers if not t.intent),
        "openers_repeating_an_earlier_one_word_for_word": repeats,
        "most_asked_intent_share_of_openers": round(max(by_intent.values()) / len(openers), 3),
        "days": round(conversations[-1].at_s / 86_400, 2) if conversations else 0,
    }
