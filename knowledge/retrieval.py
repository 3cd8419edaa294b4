"""Retrieval from a tenant's knowledge base: hybrid, tenant-scoped, in process.

Each process keeps, per tenant, an index of its ready chunks: their embeddings as one matrix
(cosine similarity is one matrix-vector product) and an inverted index of their words (BM25).
The two rankings are fused (reciprocal rank fusion), so a question finds a passage by its
meaning or by its exact words (a product code, an error message). The same code runs on
PostgreSQL and on the embedded SQLite default.

An index belongs to one tenant and one ``Tenant.knowledge_version``, read fresh from the
database for every question (one indexed read): a document that becomes ready or is deleted
bumps it, so the next question on any instance sees the change. A tenant's chunks are never in
another tenant's index.
"""

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.db import connection

from chat.gateway.llm.tokens import estimate_tokens
from infra.embedder import question_vector
from knowledge.models import Chunk, Document
from knowledge.versioned import VersionedIndexes
from tenants.models import Tenant

CANDIDATES = 30  # from each ranking, before fusion
FUSION_K = 60  # reciprocal rank fusion's constant
MIN_SIMILARITY = 0.30  # a passage less similar than this is found only by its words
_BM25_K1, _BM25_B = 1.2, 0.75
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP_WORDS = (
    "a an and are as at be but by can do does for from how i if in is it its me my no not of "
    "on or our so that the their them then there these this to was we what when where which "
    "who why will with you your"
)
_STOP = frozenset(_STOP_WORDS.split())
_VERSION_SQL = f"SELECT knowledge_version FROM {Tenant._meta.db_table} WHERE id = %s"  # noqa: S608


def words(text: str) -> list[str]:
    """Lower-cased words without stop words, a plural ``s`` taken off (``refunds`` → ``refund``)."""
    found = []
    for word in _WORD.findall(text.casefold()):
        if word in _STOP:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.append(word)
    return found


@dataclass(frozen=True, slots=True)
class Passage:
    chunk_id: int
    document_id: int
    title: str
    heading: str
    ordinal: int
    text: str
    score: float

    def source(self, number: int) -> dict[str, object]:
        """What a client shows as the citation ``[number]``."""
        return {
            "n": number,
            "document_id": self.document_id,
            "title": self.title,
            "heading": self.heading,
            "chunk": self.ordinal,
            "excerpt": self.text[:240],
        }


class TenantIndex:
    def __init__(self, rows: list[tuple[int, int, str, str, int, str, bytes]]) -> None:
        self.rows = rows
        dimensions = {len(r[6]) for r in rows if r[6]}
        if len(dimensions) == 1 and all(r[6] for r in rows):
            self.vectors: np.ndarray | None = np.frombuffer(
                b"".join(r[6] for r in rows), dtype=np.float32
            ).reshape(len(rows), -1)
        else:
            self.vectors = None  # ingested without the embedding model: words only
        postings: dict[str, dict[int, int]] = defaultdict(dict)
        lengths = np.zeros(len(rows), dtype=np.float32)
        for row, (_, _, _, heading, _, text, _) in enumerate(rows):
            terms = words(f"{heading} {text}")
            lengths[row] = len(terms)
            for term in terms:
                postings[term][row] = postings[term].get(row, 0) + 1
        self.lengths = lengths
        self.average_length = float(lengths.mean()) if len(rows) else 0.0
        self.postings = {
            term: (np.fromiter(hits.keys(), dtype=np.int64), np.fromiter(hits.values(), dtype=np.float32))
            for term, hits in postings.items()
        }

    def bm25(self, question: str) -> np.ndarray:
        scores = np.zeros(len(self.rows), dtype=np.float32)
        total = len(self.rows)
        for term in set(words(question)):
            found = self.postings.get(term)
            if found is None:
                continue
            rows, counts = found
            idf = math.log(1 + (total - len(rows) + 0.5) / (len(rows) + 0.5))
            norm = _BM25_K1 * (1 - _BM25_B + _BM25_B * self.lengths[rows] / (self.average_length or 1))
            scores[rows] += idf * counts * (_BM25_K1 + 1) / (counts + norm)
        return scores

    def search(self, question: str, vector: np.ndarray | None) -> list[tuple[int, float]]:
        """(row, fused score) of the passages found by words or by meaning, best first."""
        fused: dict[int, float] = defaultdict(float)
        sparse = self.bm25(question)
        for rank, row in enumerate(np.argsort(-sparse)[:CANDIDATES]):
            if sparse[row] <= 0:
                break
            fused[int(row)] += 1 / (FUSION_K + rank + 1)
        if vector is not None and self.vectors is not None and self.vectors.shape[1] == vector.shape[0]:
            similarity = self.vectors @ vector
            for rank, row in enumerate(np.argsort(-similarity)[:CANDIDATES]):
                if similarity[row] < MIN_SIMILARITY:
                    break
                fused[int(row)] += 1 / (FUSION_K + rank + 1)
        return sorted(fused.items(), key=lambda item: -item[1])


_indexes = VersionedIndexes(lambda tenant_id: TenantIndex(_load(tenant_id)))


def _load(tenant_id: int) -> list[tuple[int, int, str, str, int, str, bytes]]:
    ready = Chunk.objects.for_tenant(tenant_id).filter(document__status=Document.Status.READY)
    return [
        (chunk_id, document_id, title, heading, ordinal, text, bytes(embedding or b""))
        for chunk_id, document_id, title, heading, ordinal, text, embedding in ready.order_by(
            "id"
        ).values_list("id", "document_id", "document__title", "heading", "ordinal", "text", "embedding")
    ]


def knowledge_version(tenant_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_VERSION_SQL, [tenant_id])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def retrieve(
    *,
    tenant_id: int,
    question: str,
    budget_tokens: int,
    k: int,
    version: int | None = None,
    vector: Callable[[], np.ndarray | None] | None = None,
) -> list[Passage]:
    """At most ``k`` passages of the tenant's ready documents for ``question``, best first, that
    fit in ``budget_tokens`` together. Found by meaning when the local embedding model is loaded
    (it loads in the background at start; until then, and without it, by words only).
    ``version``: the tenant's ``knowledge_version`` if the caller has read it already;
    ``vector``: the question's embedding (``question_vector``), when the caller shares it."""
    if version is None:
        version = knowledge_version(tenant_id)
    if version == 0:  # never had a document: nothing to load, no question to embed
        return []
    index = _indexes.get(tenant_id, version)
    if not index.rows:
        return []
    query = None
    if index.vectors is not None:
        query = vector() if vector is not None else question_vector(question)
    found: list[Passage] = []
    used = 0
    for row, score in index.search(question, query):
        chunk_id, document_id, title, heading, ordinal, text, _ = index.rows[row]
        cost = estimate_tokens(text) + estimate_tokens(title) + 8
        if used + cost > budget_tokens:
            continue
        found.append(Passage(chunk_id, document_id, title, heading, ordinal, text, score))
        used += cost
        if len(found) == k:
            break
    return found


KNOWLEDGE_SHARE = 0.25  # of the model's context, at most, for passages
KNOWLEDGE_MAX_TOKENS = 2000
PASSAGES_PER_TURN = 5
_INSTRUCTIONS = (
    "Passages from this company's own documents that may answer the question follow. Answer "
    "from them when they are relevant and cite each one you use as [n]; if they do not hold the "
    "answer, say so rather than guess."
)


def knowledge_block(passages: list[Passage]) -> str:
    """The passages as the system message carries them, numbered as the client cites them."""
    if not passages:
        return ""
    numbered = "\n\n".join(
        f"[{n}] {p.title}{' — ' + p.heading if p.heading else ''}\n{p.text}"
        for n, p in enumerate(passages, 1)
    )
    return f"{_INSTRUCTIONS}\n\n{numbered}"


def turn_passages(
    *,
    tenant_id: int,
    question: str,
    context_tokens: int,
    version: int,
    vector: Callable[[], np.ndarray | None],
) -> list[Passage]:
    """The passages a turn's context gets: a quarter of the model's context at most."""
    budget = min(KNOWLEDGE_MAX_TOKENS, int(context_tokens * KNOWLEDGE_SHARE))
    return retrieve(
        tenant_id=tenant_id,
        question=question,
        budget_tokens=budget,
        k=PASSAGES_PER_TURN,
        version=version,
        vector=vector,
    )


def forget_indexes() -> None:
    """Tests: drop every index this process keeps."""
    _indexes.clear()
