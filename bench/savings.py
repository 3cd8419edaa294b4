"""What each cost control saves a tenant, on a week of support traffic replayed in fast time.

    .venv/bin/python bench/savings.py                          # 1,000 messages over 7 days, all runs
    .venv/bin/python bench/savings.py --runs nothing,routing   # some of them
    .venv/bin/python bench/savings.py --messages 400 --days 3  # quicker

The trace (``bench/support_trace.py``, seeded) is a week of conversations of an online shop's
support: frequent questions typed many ways, questions with details of their own, greetings and
follow-ups, arriving more in business hours than at night. It is replayed once, each conversation
at its arrival time divided by ``--speed`` (1,800: a day in 48 s), against several tenants of the
platform at once (the README's run command on PostgreSQL + Redis, the fake OpenAI server in its
own process), one tenant per run:

    nothing   no cache, no curated answer, no routing: every message goes to gpt-4o
    caches    the exact and the semantic cache (``--threshold``)
    curated   the owner's curated answers (``support_intents.CURATED``: 8 of the 24 intents, two
              phrasings each, embedded by the worker before the replay)
    reviewed  the same curated answers, and at the end of each day the owner goes through the
              suggested phrasings (questions that came close to an entry), adds those that ask
              what the entry answers and declines the others (the trace's labels stand in for
              the owner's judgement; a declined question is not suggested again)
    routing   model routing: simple and moderate messages to gpt-4o-mini, complex ones to gpt-4o
    all       all of the above (no review)

The caches' lifetime (``--cache-ttl``, one hour) is divided by the same speed, so what a cache
can hold over a week is what it holds here. Costs come from the ledger and include the titles
and summaries the platform writes in the background (their own calls). The report states, per
run, the upstream calls and the cost, what each cause saved against ``nothing``: hits of each
cache (from the platform's metrics), curated answers given (and given to a question of another
intent: wrong ones), and the answers routing sent to the cheaper model with what they would have
cost on gpt-4o. The fake model answers ``--answer-tokens`` tokens whatever the model: what
routing gives up in quality is not measured here.
"""

import argparse
import asyncio
import json
import random
import re
import sys
import time
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import platform_and_fake_llm  # noqa: E402
from bench.support_intents import CURATED  # noqa: E402
from bench.support_trace import Conversation, describe, week  # noqa: E402
from bench.ws_bench import raise_limits  # noqa: E402
from testkit.fake_openai import answer_sign  # noqa: E402
from testkit.live import METRICS_TOKEN, LivePlatform  # noqa: E402

DEFAULT_MODEL, CHEAP_MODEL = "gpt-4o", "gpt-4o-mini"
RUNS: dict[str, dict[str, bool]] = {
    "nothing": {"caches": False, "curated": False, "review": False, "routing": False},
    "caches": {"caches": True, "curated": False, "review": False, "routing": False},
    "curated": {"caches": False, "curated": True, "review": False, "routing": False},
    "reviewed": {"caches": False, "curated": True, "review": True, "routing": False},
    "routing": {"caches": False, "curated": False, "review": False, "routing": True},
    "all": {"caches": True, "curated": True, "review": False, "routing": True},
}
SYSTEM_PROMPT = "You are the support assistant of an online shop. Answer briefly and precisely."


def tenant_for(platform: LivePlatform, run: dict[str, bool], args: argparse.Namespace) -> dict[str, Any]:
    """A fresh tenant configured for ``run``: its slug and id, a member's token, and its curated
    entries' intents by id."""
    slug, member, password = platform.new_tenant_with_member(tier="unlimited")
    owner, owner_password = platform.add_member(slug, role="owner")
    raise_limits(platform, slug)
    ttl = max(1, round(args.cache_ttl / args.speed))
    platform.sql(
        "UPDATE tenants_tenant SET model = %s, system_prompt = %s, exact_cache_enabled = %s,"
        " semantic_cache_enabled = %s, semantic_cache_threshold = %s, cache_ttl_seconds = %s,"
        " model_routing_enabled = %s, routing_model_simple = %s, routing_model_moderate = %s,"
        " routing_model_complex = %s, config_version = config_version + 1 WHERE slug = %s",
        [
            DEFAULT_MODEL,
            SYSTEM_PROMPT,
            run["caches"],
            run["caches"],
            args.threshold,
            ttl,
            run["routing"],
            CHEAP_MODEL,
            CHEAP_MODEL,
            DEFAULT_MODEL,
            slug,
        ],
    )
    row = platform.sql("SELECT id FROM tenants_tenant WHERE slug = %s", [slug])
    assert row is not None
    curated: dict[int, str] = {}
    token = platform.token(owner, owner_password, slug)
    if run["curated"]:
        for intent, questions in CURATED.items():
            answer = f"[{intent}] The shop's own answer to this question."
            status, body = platform.http(
                "POST", "/api/v1/knowledge/curated/", {"questions": questions, "answer": answer}, token
            )
            assert status == 201, body
            curated[body["id"]] = intent
        deadline = time.monotonic() + 600
        while not all(
            e["embedded"] for e in platform.http("GET", "/api/v1/knowledge/curated/", None, token)[1]
        ):
            assert time.monotonic() < deadline, "the worker did not embed the curated answers"
            time.sleep(1)
    return {
        "slug": slug,
        "id": row[0],
        "token": platform.token(member, password, slug),
        "curated": curated,
        "ttl_s": ttl,
        "owner_token": token,
        "review": run["review"],
        "reviewed": {"accepted": 0, "rejected": 0},
    }


def review(platform: LivePlatform, tenant: dict[str, Any], intents: dict[str, str]) -> None:
    """The owner's daily look at the suggested phrasings: each one that asks what its entry
    answers is added to the entry, the others are declined."""
    token = tenant["owner_token"]
    status, suggestions = platform.http("GET", "/api/v1/knowledge/curated/suggestions/", None, token)
    assert status == 200, suggestions
    for suggestion in suggestions:
        entry_id, question = suggestion["entry_id"], suggestion["question"]
        fits = intents.get(question) == tenant["curated"].get(entry_id)
        field = "questions" if fits else "declined_questions"
        path = f"/api/v1/knowledge/curated/{entry_id}/"
        status, entry = platform.http("GET", path, None, token)
        assert status == 200, entry
        status, body = platform.http("PATCH", path, {field: [*entry[field], question]}, token)
        assert status == 200, body
        tenant["reviewed"]["accepted" if fits else "rejected"] += 1


async def replay(
    platform: LivePlatform,
    tenants: dict[str, dict[str, Any]],
    trace: list[Conversation],
    speed: float,
    intents: dict[str, str],
) -> dict[str, dict[str, int]]:
    """Each conversation, at its time, in every tenant; what the answers were. A cached answer
    opens with the digest of the question it was written for (the fake model signs its answers):
    it is right for the question it is given to when that is the same question, or one of the
    same intent (the same details, for a question with details of its own)."""
    seen = {run: {"answers": 0, "cached_right": 0, "cached_wrong": 0, "curated_frames": 0} for run in tenants}
    written_for = {answer_sign(t.text): t for c in trace for t in c.turns}
    rng = random.Random(1)
    started = time.monotonic()

    async def converse(run: str, conversation: Conversation, think_s: list[float]) -> None:
        url = f"{platform.ws_url}/ws/chat/?token={tenants[run]['token']}"
        async with connect(url, max_queue=None) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            for index, turn in enumerate(conversation.turns):
                if index:
                    await asyncio.sleep(think_s[index])
                frame = {"type": "message", "content": turn.text, "client_id": str(uuid.uuid4())}
                await ws.send(json.dumps(frame))
                while True:
                    reply = json.loads(await ws.recv())
                    if reply["type"] == "response" and reply.get("curated"):
                        seen[run]["curated_frames"] += 1
                    elif reply["type"] == "response":
                        original = written_for.get(reply["content"].split()[0].removeprefix("re:"))
                        right = original is not None and (
                            original.text == turn.text
                            or (bool(turn.intent) and original.intent == turn.intent)
                        )
                        seen[run]["cached_right" if right else "cached_wrong"] += 1
                    elif reply["type"] == "error":
                        raise RuntimeError(reply)
                    elif reply["type"] == "done":
                        seen[run]["answers"] += 1
                        break

    async def at_its_time(conversation: Conversation) -> None:
        await asyncio.sleep(max(0.0, started + conversation.at_s / speed - time.monotonic()))
        # A customer reads the answer before the next message: 20 to 90 s, in fast time.
        think_s = [rng.uniform(20, 90) / speed for _ in conversation.turns]
        await asyncio.gather(*(converse(run, conversation, think_s) for run in tenants))

    async def reviews() -> None:
        reviewing = [t for t in tenants.values() if t["review"]]
        day = 1
        while reviewing and trace and day * 86_400 < trace[-1].at_s:
            await asyncio.sleep(max(0.0, started + day * 86_400 / speed - time.monotonic()))
            for tenant in reviewing:
                await asyncio.to_thread(review, platform, tenant, intents)
            day += 1

    await asyncio.gather(reviews(), *(at_its_time(c) for c in trace))
    return seen


def cache_hits(platform: LivePlatform) -> dict[tuple[str, str], float]:
    """``chat_cache_lookups_total`` hits by (tenant slug, cache), from the platform's metrics."""
    request = urllib.request.Request(  # noqa: S310 (the local platform)
        f"{platform.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the local platform)
        text = response.read().decode()
    hits: dict[tuple[str, str], float] = {}
    pattern = r'^chat_cache_lookups_total\{(?=[^}]*result="hit")[^}]*\} (\S+)$'
    for line in re.finditer(pattern, text, re.MULTILINE):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.group(0)))
        key = (labels["tenant"], labels["cache"])
        hits[key] = hits.get(key, 0.0) + float(line.group(1))
    return hits


def ledger(platform: LivePlatform, tenant_id: int) -> dict[str, Any]:
    """Calls and cost by purpose (answers; titles and summaries), and routing's part."""
    by_purpose: dict[str, dict[str, Any]] = {}
    purposes = platform.sql(
        "SELECT coalesce(json_agg(row_to_json(x)), '[]') FROM (SELECT purpose, model,"
        " count(*) FILTER (WHERE NOT cached) AS calls, count(*) FILTER (WHERE cached) AS from_cache,"
        " sum(cost_usd)::text AS cost FROM billing_usagerecord WHERE tenant_id = %s"
        " GROUP BY purpose, model ORDER BY purpose, model) x",
        [tenant_id],
    )
    for row in purposes[0] if purposes else []:
        entry = by_purpose.setdefault(row["purpose"], {"calls": 0, "cost_usd": Decimal(0), "by_model": {}})
        entry["calls"] += row["calls"]
        entry["cost_usd"] += Decimal(row["cost"])
        entry["by_model"][row["model"]] = {"calls": row["calls"], "cost_usd": row["cost"]}
    routed = platform.sql(
        "SELECT count(*), coalesce(sum(u.cost_usd), 0)::text, coalesce(sum((u.input_tokens"
        " * p.input_per_mtok + u.output_tokens * p.output_per_mtok) / 1000000), 0)::text"
        " FROM billing_usagerecord u, billing_modelprice p WHERE u.tenant_id = %s"
        " AND u.purpose = 'answer' AND NOT u.cached AND u.model <> %s AND p.model = %s",
        [tenant_id, DEFAULT_MODEL, DEFAULT_MODEL],
    )
    assert routed is not None
    total = sum((e["cost_usd"] for e in by_purpose.values()), Decimal(0))
    return {
        "upstream_calls": sum(e["calls"] for e in by_purpose.values()),
        "cost_usd": total,
        "by_purpose": {
            purpose: {**e, "cost_usd": f"{e['cost_usd']:.6f}"} for purpose, e in sorted(by_purpose.items())
        },
        "routed_to_cheaper_model": {
            "answers": routed[0],
            "cost_usd": f"{Decimal(routed[1]):.6f}",
            "at_default_model_usd": f"{Decimal(routed[2]):.6f}",
            "saved_usd": Decimal(routed[2]) - Decimal(routed[1]),
        },
    }


def wrong_curated(platform: LivePlatform, tenant: dict[str, Any], intents: dict[str, str]) -> dict[str, int]:
    """Curated answers given, and given to a question of another intent."""
    row = platform.sql(
        "SELECT coalesce(json_agg(json_build_array(q.content, a.curated_answer_id)), '[]')"
        " FROM chat_message a JOIN chat_message q ON q.id = a.reply_to_id"
        " WHERE a.tenant_id = %s AND a.curated_answer_id IS NOT NULL",
        [tenant["id"]],
    )
    given = row[0] if row else []
    wrong = sum(1 for question, entry in given if intents.get(question) != tenant["curated"].get(entry))
    return {"given": len(given), "to_another_intent": wrong}


def report(
    name: str,
    tenant: dict[str, Any],
    platform: LivePlatform,
    intents: dict[str, str],
    seen: dict[str, int],
    hits: dict[tuple[str, str], float],
) -> dict[str, Any]:
    money = ledger(platform, tenant["id"])
    routed = money.pop("routed_to_cheaper_model")
    classes = platform.sql(
        "SELECT coalesce(json_object_agg(route, n), '{}') FROM (SELECT route, count(*) AS n"
        " FROM chat_message WHERE tenant_id = %s AND role = 'assistant' GROUP BY route) x",
        [tenant["id"]],
    )
    return {
        "answers": seen["answers"],
        "cached_answers_right_for_their_question": seen["cached_right"],
        "cached_answers_wrong_for_their_question": seen["cached_wrong"],
        "answers_by_routing_class": classes[0] if classes else {},
        **money,
        "exact_cache_hits": int(hits.get((tenant["slug"], "exact"), 0)),
        "semantic_cache_hits": int(hits.get((tenant["slug"], "semantic"), 0)),
        "curated_answers": wrong_curated(platform, tenant, intents) if tenant["curated"] else None,
        "suggested_phrasings_reviewed": tenant["reviewed"] if tenant["review"] else None,
        "routed_to_cheaper_model": {**routed, "saved_usd": f"{routed['saved_usd']:.6f}"}
        if RUNS[name]["routing"]
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=1800, help="trace seconds per replay second")
    parser.add_argument("--cache-ttl", type=float, default=3600, help="the caches' lifetime in trace seconds")
    parser.add_argument("--threshold", type=float, default=0.95, help="the semantic cache's threshold")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"some of {', '.join(RUNS)}")
    parser.add_argument("--answer-tokens", type=int, default=150)
    args = parser.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    assert set(runs) <= set(RUNS) and runs, f"--runs: some of {', '.join(RUNS)}"

    trace = week(args.messages, args.days, args.seed)
    intents = {t.text: t.intent for c in trace for t in c.turns if t.intent}
    shape = describe(trace)
    print(f"trace: {json.dumps(shape)}", file=sys.stderr, flush=True)
    fake_args = ("--tokens", str(args.answer_tokens), "--token-delay", "0.0005", "--sign")
    env = {"LOG_LEVEL": "WARNING", "OUTBOX_RETRY_S": "1"}
    with platform_and_fake_llm(prefix="savings-", extra_env=env, fake_args=fake_args) as (platform, _):
        tenants = {run: tenant_for(platform, RUNS[run], args) for run in runs}
        print(f"-- replaying {args.days} days at {args.speed:g}x", file=sys.stderr, flush=True)
        started = time.perf_counter()
        seen = asyncio.run(replay(platform, tenants, trace, args.speed, intents))
        elapsed = time.perf_counter() - started
        time.sleep(5)  # the last titles and the summaries the replay made due
        hits = cache_hits(platform)
        results = {run: report(run, tenants[run], platform, intents, seen[run], hits) for run in runs}
    summary: dict[str, Any] = {}
    if "nothing" in results:
        base = results["nothing"]
        for run, figures in results.items():
            if run != "nothing":
                summary[run] = {
                    "upstream_calls_saved_percent": round(
                        100 * (1 - figures["upstream_calls"] / base["upstream_calls"]), 1
                    ),
                    "cost_saved_percent": round(100 * float(1 - figures["cost_usd"] / base["cost_usd"]), 1),
                }
    for figures in results.values():
        figures["cost_usd"] = f"{figures['cost_usd']:.6f}"
    print(
        json.dumps(
            {
                "trace": {**shape, "seed": args.seed, "replayed_in_s": round(elapsed, 1)},
                "speed": args.speed,
                "cache_ttl_s_in_trace_time": args.cache_ttl,
                "semantic_threshold": args.threshold,
                "runs": results,
                "saved_against_nothing": summary,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
