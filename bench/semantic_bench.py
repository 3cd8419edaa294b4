"""The semantic cache's lookup over 10,000 entries of one tenant, on real Redis.

    .venv/bin/python bench/semantic_bench.py [--entries 10000] [--lookups 500]

Fills one tenant scope with ``--entries`` entries through one cache (one instance), then times
lookups from another (a second instance): the first lookup, which copies the stream into the
instance's matrix, and then steady-state lookups (catch-up round trip + matrix-vector product,
plus the answer's GET on a hit). Reports the embedding of a message by the local model apart.
Target: lookup p50 <= 5 ms.
"""

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from bench.stats import percentile  # noqa: E402
from chat.gateway.response_cache import CachedAnswer  # noqa: E402
from chat.gateway.semantic_cache import SemanticCache, SemanticProbe  # noqa: E402
from infra.embedder import DIMENSIONS, embedder  # noqa: E402


def unit_vectors(count: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


async def run(entries: int, lookups: int) -> dict[str, object]:
    rng = np.random.default_rng(1)
    scope = f"t:999999:cache:sem:bench{uuid.uuid4().hex[:8]}"
    writer = SemanticCache(shared=True, capacity=entries)
    answer = CachedAnswer(text="An answer of a typical length. " * 10, model="gpt-4o-mini")
    stored = unit_vectors(entries, rng)
    started = time.perf_counter()
    for vector in stored:
        probe = SemanticProbe(scope=scope, signature="", vector=vector, answer=None, score=None)
        await writer.put(probe, answer, ttl_s=3600)
    fill_s = time.perf_counter() - started

    reader = SemanticCache(shared=True, capacity=entries)
    queries = unit_vectors(lookups, rng)
    started = time.perf_counter()
    await reader.lookup(scope=scope, text="q", vector=queries[0], threshold=0.95, ttl_s=3600)
    first_ms = (time.perf_counter() - started) * 1000

    timings, hits = [], 0
    for index, query in enumerate(queries):
        if index % 2:  # half the queries are stored questions: hits
            query = stored[index]
        started = time.perf_counter()
        probe = await reader.lookup(scope=scope, text="q", vector=query, threshold=0.95, ttl_s=3600)
        timings.append((time.perf_counter() - started) * 1000)
        hits += probe.answer is not None

    embed_ms = []
    for index in range(50):
        started = time.perf_counter()
        await embedder().embed(f"How do I reset the password of account number {index}?")
        embed_ms.append((time.perf_counter() - started) * 1000)
    return {
        "entries": entries,
        "fill_seconds": round(fill_s, 2),
        "first_lookup_ms (copies the stream)": round(first_ms, 1),
        "lookups": lookups,
        "hits": hits,
        "lookup_p50_ms": round(percentile(timings, 50), 3),
        "lookup_p99_ms": round(percentile(timings, 99), 3),
        "embed_p50_ms": round(percentile(embed_ms[5:], 50), 2),
        "embed_p99_ms": round(percentile(embed_ms[5:], 99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=500)
    args = parser.parse_args()
    print(asyncio.run(run(args.entries, args.lookups)))


if __name__ == "__main__":
    main()
