"""The context builder on a long conversation: time and tokens sent.

    .venv/bin/python bench/context_bench.py [--messages 500]

Creates a conversation of ``--messages`` messages (support-length texts) with a rolling summary
in a PostgreSQL database of its own and Redis database 3, then times, per message sent:
  hit   the working memory read (one Redis round trip) + building the context;
  miss  the working memory missing: the PostgreSQL read, the refill, and building it;
and reports the tokens sent against the tokens of the whole conversation.
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
DATABASE = f"chatplatform_ctx_{uuid.uuid4().hex[:8]}"
os.environ["DATABASE_URL"] = f"postgres://root@127.0.0.1:5432/{DATABASE}"
os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import psycopg  # noqa: E402

from infra.keys import tenant_prefix  # noqa: E402

ADMIN = "postgresql://root@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(asyncio.run(run(args.messages, args.samples)))
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


async def run(count: int, samples: int) -> dict[str, object]:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from bench.stats import percentile
    from billing.pricing import price_for
    from chat.gateway.llm.tokens import estimate_tokens
    from chat.history.context import build_context
    from chat.history.working_memory import get_working_memory
    from chat.models import Conversation, Message
    from chat.selectors import conversation_state, recent_messages
    from infra.db import in_db_thread
    from tenants.models import Tenant, Tier
    from tenants.seeds import seed_tiers

    def setup() -> tuple[int, int]:
        seed_tiers(Tier)
        tenant = Tenant.objects.create(slug="ctx", name="Ctx", tier=Tier.objects.get(slug="professional"))
        user = get_user_model().objects.create_user("ctx-user")
        conversation = Conversation.objects.create(tenant=tenant, user=user)
        texts = [
            "My order arrived with a cracked screen and the box was open; I need a replacement. " * 2,
            "I am sorry about that. I have opened a replacement for you; it ships within two days. " * 2,
        ]
        messages = Message.objects.bulk_create(
            Message(
                tenant=tenant,
                conversation=conversation,
                role=("user", "assistant")[i % 2],
                content=texts[i % 2],
            )
            for i in range(count)
        )
        covered = messages[-14]
        Conversation.objects.for_tenant(tenant.pk).filter(pk=conversation.pk).update(
            summary="The customer's order arrived damaged; a replacement ships within two days. " * 3,
            summary_upto_id=covered.pk,
            summary_message_count=count - 13,
            message_count=count,
        )
        return tenant.pk, conversation.pk

    tenant_id, conversation_id = await in_db_thread(setup)()
    memory = get_working_memory()
    budget = (await in_db_thread(price_for)("gpt-4o-mini")).context_tokens

    def build(history, state) -> object:  # type: ignore[no-untyped-def]
        return build_context(
            system_prompt="You are a helpful, concise support assistant.",
            summary=state.summary,
            summary_upto_id=state.summary_upto_id,
            history=history,
            question="Has it shipped yet?",
            budget_tokens=budget,
        )

    state = await in_db_thread(conversation_state)(tenant_id=tenant_id, conversation_id=conversation_id)
    hit_ms, miss_ms = [], []
    context = None
    for _ in range(samples):
        started = time.perf_counter()
        history = await memory.recent(tenant_id=tenant_id, conversation_id=conversation_id)
        if history is None:
            history = await in_db_thread(recent_messages)(
                tenant_id=tenant_id, conversation_id=conversation_id, limit=settings.CHAT_HISTORY_MESSAGES
            )
            await memory.refill(tenant_id=tenant_id, conversation_id=conversation_id, items=history)
            context = build(history, state)
            miss_ms.append((time.perf_counter() - started) * 1000)
            continue
        context = build(history, state)
        hit_ms.append((time.perf_counter() - started) * 1000)
        if len(hit_ms) % 10 == 0:  # every tenth read finds the memory gone
            import redis.asyncio as aioredis

            await aioredis.Redis.from_url(settings.REDIS_URL).delete(
                f"{tenant_prefix(tenant_id)}:conv:{conversation_id}:recent"
            )

    def whole_conversation_tokens() -> int:
        return sum(
            estimate_tokens(c) + 4
            for c in Message.objects.for_tenant(tenant_id)
            .filter(conversation_id=conversation_id)
            .values_list("content", flat=True)
        )

    full = await in_db_thread(whole_conversation_tokens)()
    assert context is not None
    return {
        "messages_in_conversation": count,
        "memory_hit_p50_ms": round(percentile(hit_ms, 50), 3),
        "memory_hit_p99_ms": round(percentile(hit_ms, 99), 3),
        "memory_miss_p50_ms (PostgreSQL read + refill)": round(percentile(miss_ms, 50), 3),
        "memory_miss_p99_ms": round(percentile(miss_ms, 99), 3),
        "messages_sent": len(context.messages),  # type: ignore[attr-defined]
        "tokens_sent": context.tokens,  # type: ignore[attr-defined]
        "tokens_of_whole_conversation": full,
        "context_budget_tokens": budget,
    }


if __name__ == "__main__":
    main()
