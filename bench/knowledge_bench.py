"""The knowledge base at 10,000 chunks a tenant: ingestion throughput, retrieval latency and
retrieval quality, against PostgreSQL full-text search on the same chunks as the reference.

    .venv/bin/python bench/knowledge_bench.py [--documents 1000] [--questions 400]

Makes its own PostgreSQL database (``chatplatform_knowledge_bench``, dropped first), two tenants,
and for each ``--documents`` product sheets (seeded, generated): ten sections a sheet (warranty,
shipping, returns, care, ...), each stating facts of that product in its own words. Tenant B's
sheets have the same product names with other facts. Ingestion runs the platform's own code
(``document_add`` + ``document_ingest``: extract, chunk, embed, store), timed end to end.

The labelled set: for ``--questions`` (product, section) pairs, a question written with other
words than the sheet ("how many years of cover ..." for "carries a 3-year manufacturer
warranty"), whose answer is that section's chunk. Reported for both methods, measured in this
run on the same questions: recall@5 (the right chunk among the first five), and latency p50/p99
(the platform's: embedding the question + the hybrid search; the reference: one PostgreSQL
``websearch_to_tsquery`` ranked query over the tenant's chunks). Every result is checked to
belong to the asking tenant. Targets: retrieval p50 <= 20 ms at 10,000 chunks, recall@5 >= 0.8.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "chatplatform_knowledge_bench"
os.environ["DATABASE_URL"] = f"postgres://root@127.0.0.1:5432/{DATABASE}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")

import psycopg  # noqa: E402

with psycopg.connect("postgres://root@127.0.0.1:5432/postgres", autocommit=True) as admin:
    admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{DATABASE}"')

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.stats import percentile  # noqa: E402
from infra.embedder import embedder  # noqa: E402
from knowledge import retrieval  # noqa: E402
from knowledge.models import Chunk  # noqa: E402
from knowledge.services import Upload, document_add, document_ingest  # noqa: E402
from tenants.models import Tenant, Tier  # noqa: E402

SYLLABLES = ["zor", "vex", "kal", "mir", "tan", "quo", "bel", "rix", "dun", "sel", "pra", "lum", "fen", "gor"]
KINDS = ["kettle", "blender", "heater", "lamp", "router", "speaker", "scooter", "drill", "camera", "toaster"]
COLOURS = ["graphite", "ivory", "sage green", "ocean blue", "copper", "matte black", "coral red"]
COURIERS = ["NordPost", "SwiftLine", "Parcelo", "BlueVan", "Kurio"]

# Each section: how the sheet says it, and how a customer asks it (other words on purpose).
SECTIONS = {
    "Warranty": (
        "The {name} carries a {years}-year manufacturer warranty covering defects in parts and "
        "workmanship. Claims need the original receipt.",
        "how many years of cover do I get if my {name} breaks",
    ),
    "Shipping": (
        "Orders of the {name} leave our warehouse within {days} working days and travel with "
        "{courier}. Tracking numbers arrive by e-mail.",
        "which delivery company brings the {name} and how soon is it dispatched",
    ),
    "Returns": (
        "An unused {name} in its original packaging may be sent back within {ret} days of delivery "
        "for a full refund; opened units get store credit.",
        "can I get my money back for a {name} I have not used",
    ),
    "Care": (
        "Wipe the {name} with a damp cloth only; never immerse it in water. Descale or dust it "
        "every {care} weeks to keep it working.",
        "how should I clean my {name}",
    ),
    "Specifications": (
        "The {name} weighs {weight} kg, draws {watts} W and comes in {colour}.",
        "what is the power consumption and weight of the {name}",
    ),
    "Troubleshooting": (
        "If the {name} does not switch on, hold the reset button for {reset} seconds, then check "
        "the fuse in the plug. A blinking amber light means it is overheating.",
        "my {name} won't turn on, what do I do",
    ),
    "Pricing": (
        "The {name} costs {price} euros including VAT; spare parts are listed on the parts page.",
        "how much does the {name} sell for",
    ),
    "Compatibility": (
        "The {name} works with {plug} sockets and the Homely app from version {app}. It does not "
        "support voice assistants.",
        "does the {name} pair with a phone app",
    ),
    "Support": (
        "Support for the {name} is available by chat from 8:00 to {until}:00 on weekdays; "
        "quote the serial number printed under the base.",
        "when can I reach a person about my {name}",
    ),
    "Safety": (
        "Keep the {name} away from children under {age}; it has a thermal cut-out and a tip-over "
        "switch certified to EN 60335.",
        "is the {name} safe to use around kids",
    ),
}


def products(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice([2, 3]))).capitalize()
        names.add(f"{word} {rng.choice(KINDS)} {rng.randint(100, 999)}")
    return sorted(names)


def sheet(name: str, rng: random.Random) -> str:
    facts = {
        "name": name,
        "years": rng.randint(1, 5),
        "days": rng.randint(1, 4),
        "courier": rng.choice(COURIERS),
        "ret": rng.choice([14, 30, 60]),
        "care": rng.randint(2, 8),
        "weight": round(rng.uniform(0.4, 9.0), 1),
        "watts": rng.randint(5, 2400),
        "colour": rng.choice(COLOURS),
        "reset": rng.randint(3, 15),
        "price": rng.randint(19, 899),
        "plug": rng.choice(["EU", "UK", "US"]),
        "app": f"{rng.randint(2, 6)}.{rng.randint(0, 9)}",
        "until": rng.randint(17, 21),
        "age": rng.randint(3, 12),
    }
    return "\n\n".join(f"# {title}\n{said.format(**facts)}" for title, (said, _) in SECTIONS.items())


def ingest(tenant: Tenant, names: list[str], rng: random.Random) -> tuple[float, int]:
    started = time.perf_counter()
    for name in names:
        upload = Upload(
            title=name, filename=f"{name}.md", content_type="text/markdown", data=sheet(name, rng).encode()
        )
        document = document_add(tenant=tenant, user_id=None, upload=upload)
        document_ingest(tenant_id=tenant.pk, document_id=document.pk)
    return time.perf_counter() - started, Chunk.objects.for_tenant(tenant.pk).count()


def postgres_search(tenant_id: int, question: str) -> list[int]:
    """The reference: PostgreSQL full-text search, ranked, over the tenant's chunks."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Chunk._meta.db_table} WHERE tenant_id = %s "  # noqa: S608
            "AND to_tsvector('english', heading || ' ' || text) @@ websearch_to_tsquery('english', %s) "
            "ORDER BY ts_rank(to_tsvector('english', heading || ' ' || text), "
            "websearch_to_tsquery('english', %s)) DESC LIMIT 5",
            [tenant_id, question.replace("?", ""), question.replace("?", "")],
        )
        return [row[0] for row in cursor.fetchall()]


def postgres_or_search(tenant_id: int, question: str) -> list[int]:
    """The reference, forgiving: any of the question's words (OR), ranked."""
    terms = " or ".join(retrieval.words(question))
    return postgres_search(tenant_id, terms)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    call_command("migrate", verbosity=0)
    tier = Tier.objects.get(slug="unlimited")
    tenant_a = Tenant.objects.create(slug="kb-a", name="A", tier=tier)
    tenant_b = Tenant.objects.create(slug="kb-b", name="B", tier=tier)
    names = products(rng, args.documents)
    embedder().embed_now(["warm up"])  # the model's load is not ingestion

    seconds_a, chunks_a = ingest(tenant_a, names, rng)
    seconds_b, chunks_b = ingest(tenant_b, names, random.Random(args.seed + 1))
    print(
        f"ingested {args.documents} documents, {chunks_a} chunks (A) in {seconds_a:.1f} s: "
        f"{args.documents / seconds_a:.1f} documents/s, {chunks_a / seconds_a:.0f} chunks/s"
    )
    print(f"ingested {args.documents} documents, {chunks_b} chunks (B) in {seconds_b:.1f} s")

    expected = {
        (title, heading): chunk_id
        for chunk_id, title, heading in Chunk.objects.for_tenant(tenant_a.pk).values_list(
            "id", "document__title", "heading"
        )
    }
    chunk_tenant = dict(Chunk.all_tenants.values_list("id", "tenant_id"))
    labelled = [
        (SECTIONS[section][1].format(name=name), expected[(name, section)])
        for name, section in ((rng.choice(names), rng.choice(list(SECTIONS))) for _ in range(args.questions))
    ]
    started = time.perf_counter()
    retrieval.retrieve(tenant_id=tenant_a.pk, question="warm up", budget_tokens=2000, k=5)
    print(f"first retrieval (loads the tenant's index): {(time.perf_counter() - started) * 1000:.0f} ms")

    def platform(question: str) -> list[int]:
        passages = retrieval.retrieve(tenant_id=tenant_a.pk, question=question, budget_tokens=100_000, k=5)
        return [p.chunk_id for p in passages]

    print(f"\n{args.questions} labelled questions, tenant A ({chunks_a} chunks), the same for each method:")
    print(f"{'method':<44} {'recall@5':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for label, method in [
        ("platform: hybrid (embedding + BM25), in process", platform),
        ("reference: PostgreSQL websearch_to_tsquery", lambda q: postgres_search(tenant_a.pk, q)),
        ("reference: PostgreSQL, any word (OR)", lambda q: postgres_or_search(tenant_a.pk, q)),
    ]:
        hits, latencies = 0, []
        for question, answer in labelled:
            started = time.perf_counter()
            found = method(question)
            latencies.append((time.perf_counter() - started) * 1000)
            hits += answer in found
            assert all(chunk_tenant[c] == tenant_a.pk for c in found), "a chunk of another tenant"
        print(
            f"{label:<44} {hits / len(labelled):>9.3f} {percentile(latencies, 50):>8.1f} "
            f"{percentile(latencies, 99):>8.1f}"
        )
    embed_ms = []
    for question, _ in labelled[:100]:
        started = time.perf_counter()
        embedder().embed_waiting(question, timeout_s=5)
        embed_ms.append((time.perf_counter() - started) * 1000)
    print(f"(of the platform's time, embedding the question alone: p50 {percentile(embed_ms, 50):.1f} ms)")


if __name__ == "__main__":
    main()
