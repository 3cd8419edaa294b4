"""Curated answers: a tenant's owners and admins write (or save from a conversation) the answer
to a frequent question in several phrasings; a message that matches one is answered from it
before the model, at no token cost, and the stored answer points to the entry it came from.

A message matches a phrasing by its words (both normalized: case, punctuation, greetings and
thanks left out) or by its meaning (cosine similarity of the local model's embeddings at or
above the tenant's ``curated_answer_threshold``), and only when both carry the same numbers
(order numbers, amounts: ``infra.embedder.signature``), and never when an owner has
declined the question for that entry (a suggested phrasing turned down: it asks something else).
Each process keeps a tenant's enabled entries per ``Tenant.knowledge_version``
(``knowledge.versioned``): every change bumps it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from django.db import transaction

from infra.embedder import embedder, embedder_installed, signature
from knowledge.models import CuratedAnswer
from knowledge.services import KnowledgeRefused, knowledge_changed
from knowledge.versioned import VersionedIndexes
from tenants.changes import Change, shown, tell_changed, tell_gone, tell_made
from tenants.models import Tenant

log = structlog.stdlib.get_logger(__name__)

MAX_QUESTIONS = 20  # phrasings of one entry
MAX_DECLINED = 200  # questions declined for one entry
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 8000
MAX_ENTRIES = 2000  # of one tenant

_OPENING = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|dear [a-z]+|excuse me|sorry|"
    r"quick question|question|please|pls)\b[\s,.!:;-]*)+"
)
_CLOSING = re.compile(
    r"(?:[\s,.!]*\b(?:thanks?(?: you)?(?: so much| a lot)?|thx|ty|cheers|please|pls))+[\s.!]*$"
)
_NOT_WORD = re.compile(r"[^\w$%#]+")


def normalized(text: str) -> str:
    """The question's words: case, punctuation, a greeting before and thanks after left out."""
    words = " ".join(text.casefold().split())
    words = _CLOSING.sub("", _OPENING.sub("", words))
    return " ".join(_NOT_WORD.sub(" ", words).split())


@dataclass(frozen=True, slots=True)
class CuratedHit:
    entry_id: int
    answer: str
    score: float  # 1.0 when the words matched
    by: str  # "words" or "meaning"


class CuratedIndex:
    """A tenant's enabled entries: their phrasings by normalized words, and the embedded ones as
    one matrix (an entry saved moments ago matches by words until its embedding is stored)."""

    def __init__(self, rows: list[tuple[int, list[str], str, bytes, list[str]]]) -> None:
        self.answers: dict[int, str] = {}
        self.by_words: dict[str, int] = {}
        self.declined: set[tuple[int, str]] = set()  # (entry, normalized question)
        owners: list[int] = []
        signatures: list[str] = []
        vectors: list[np.ndarray] = []
        for entry_id, questions, answer, embeddings, declined in rows:
            self.answers[entry_id] = answer
            for question in questions:
                self.by_words.setdefault(normalized(question), entry_id)
            self.declined.update((entry_id, normalized(question)) for question in declined)
            matrix = np.frombuffer(embeddings, dtype=np.float32)
            if not len(matrix) or len(matrix) % len(questions):
                continue  # not embedded yet, or embedded with another model: words only
            vectors += list(matrix.reshape(len(questions), -1))
            owners += [entry_id] * len(questions)
            signatures += [signature(q) for q in questions]
        self.owners = np.array(owners, dtype=np.int64)
        self.signatures = np.array(signatures, dtype=object)
        self.vectors = np.vstack(vectors) if vectors else None

    def match(
        self, question: str, vector: Callable[[], np.ndarray | None], threshold: float
    ) -> CuratedHit | None:
        """The entry ``question`` asks for, if any; ``vector`` gives its embedding (computed
        only when the words alone did not match)."""
        hit = self.nearest(question, vector)
        return hit if hit is not None and hit.score >= threshold else None

    def nearest(self, question: str, vector: Callable[[], np.ndarray | None]) -> CuratedHit | None:
        """The entry closest to ``question`` however close (``bench/matcher_bench.py`` sweeps
        the threshold): by its words, else by the meaning of its phrasings with its numbers."""
        entry_id = self.by_words.get(normalized(question))
        if entry_id is not None:
            return CuratedHit(entry_id, self.answers[entry_id], 1.0, "words")
        if self.vectors is None or not (self.signatures == signature(question)).any():
            return None
        query = vector()
        return self.nearest_in_meaning(question, query) if query is not None else None

    def nearest_in_meaning(self, question: str, query: np.ndarray) -> CuratedHit | None:
        """The entry whose phrasings (with the question's numbers) are closest to ``query``,
        the question's embedding; None when that entry's owners declined the question."""
        if self.vectors is None or query.shape[0] != self.vectors.shape[1]:
            return None
        usable = self.signatures == signature(question)
        if not usable.any():
            return None
        scores = np.where(usable, self.vectors @ query, -2.0)
        best = int(np.argmax(scores))
        entry_id = int(self.owners[best])
        if self.declined and (entry_id, normalized(question)) in self.declined:
            return None
        return CuratedHit(entry_id, self.answers[entry_id], float(scores[best]), "meaning")


def _load(tenant_id: int) -> CuratedIndex:
    enabled = CuratedAnswer.objects.for_tenant(tenant_id).filter(enabled=True).order_by("id")
    return CuratedIndex(
        [
            (entry_id, questions, answer, bytes(embeddings or b""), declined)
            for entry_id, questions, answer, embeddings, declined in enabled.values_list(
                "id", "questions", "answer", "embeddings", "declined_questions"
            )
        ]
    )


_indexes: VersionedIndexes[CuratedIndex] = VersionedIndexes(_load)


def curated_match(
    *,
    tenant_id: int,
    question: str,
    version: int,
    vector: Callable[[], np.ndarray | None],
    threshold: float,
) -> CuratedHit | None:
    """The tenant's curated answer to ``question`` (``version``: its ``knowledge_version``)."""
    if version == 0:  # never had any knowledge: nothing to load
        return None
    index = _indexes.get(tenant_id, version)
    return index.match(question, vector, threshold) if index.answers else None


SUGGEST_FROM = 0.70  # a question this alike to a phrasing, but under the threshold, is suggested


@dataclass(frozen=True, slots=True)
class Suggestion:
    entry_id: int
    question: str
    similarity: float


def curated_suggestions(
    *, tenant_id: int, questions: list[str], version: int, threshold: float
) -> list[Suggestion]:
    """Questions that came close to one of the tenant's entries without matching it: phrasings
    an owner may add to it with a click (recall grows, each new phrasing checked by a person),
    or decline (it is not suggested for that entry again). Empty without the local embedding
    model."""
    index = _indexes.get(tenant_id, version) if version else None
    if index is None or index.vectors is None or not embedder_installed():
        return []
    # What may be a phrasing, and is not one already (those match by their words).
    questions = [q for q in questions if len(q) <= MAX_QUESTION_CHARS and normalized(q) not in index.by_words]
    if not questions:
        return []
    found = []
    for question, vector in zip(questions, embedder().embed_now(questions), strict=True):
        hit = index.nearest_in_meaning(question, vector)
        if hit is not None and SUGGEST_FROM <= hit.score < threshold:
            found.append(Suggestion(hit.entry_id, question, round(hit.score, 4)))
    return sorted(found, key=lambda s: -s.similarity)


def forget_indexes() -> None:
    """Tests: drop every index this process keeps."""
    _indexes.clear()


# -- writes ---------------------------------------------------------------------------------


def _phrasings(field: str, questions: Any, most: int) -> dict[str, str]:
    """``questions`` by their normalized words (the same words twice: once), as written."""
    if not isinstance(questions, list):
        raise KnowledgeRefused(field, "a list of questions")
    if len(questions) > most:
        raise KnowledgeRefused(field, f"at most {most} questions")
    kept: dict[str, str] = {}
    for question in questions:
        text = " ".join(question.split()) if isinstance(question, str) else ""
        if not normalized(text):
            raise KnowledgeRefused(field, "each question must have words")
        if len(text) > MAX_QUESTION_CHARS:
            raise KnowledgeRefused(field, f"at most {MAX_QUESTION_CHARS} characters a question")
        kept.setdefault(normalized(text), text)
    return kept


def _clean(questions: Any, answer: Any, declined: Any) -> tuple[list[str], str, list[str]]:
    kept = _phrasings("questions", questions, MAX_QUESTIONS)
    if not kept:
        raise KnowledgeRefused("questions", "at least one phrasing of the question")
    turned_down = _phrasings("declined_questions", declined, MAX_DECLINED)
    if both := kept.keys() & turned_down.keys():
        raise KnowledgeRefused("declined_questions", f"{turned_down[min(both)]!r} is one of the phrasings")
    if not isinstance(answer, str) or not answer.strip():
        raise KnowledgeRefused("answer", "the answer must not be empty")
    if len(answer) > MAX_ANSWER_CHARS:
        raise KnowledgeRefused("answer", f"at most {MAX_ANSWER_CHARS} characters")
    return list(kept.values()), answer.strip(), list(turned_down.values())


def _taken_elsewhere(tenant_id: int, questions: list[str], entry_id: int | None) -> str | None:
    """A phrasing another enabled entry of the tenant already has: which answer would it get?"""
    wanted = {normalized(q): q for q in questions}
    others = CuratedAnswer.objects.for_tenant(tenant_id).filter(enabled=True).exclude(pk=entry_id)
    for other_questions in others.values_list("questions", flat=True):
        for other in other_questions:
            if normalized(other) in wanted:
                return wanted[normalized(other)]
    return None


def _changed(entry: CuratedAnswer, *, embed: bool) -> None:
    """After the commit: every process's index of the tenant is stale, and new phrasings are
    embedded by a worker (until then they match by words)."""
    tenant_id, entry_id = entry.tenant_id, entry.pk
    knowledge_changed(tenant_id)
    if embed and embedder_installed():
        transaction.on_commit(lambda: _queue_embedding(tenant_id, entry_id))


def _queue_embedding(tenant_id: int, entry_id: int) -> None:
    from knowledge.tasks import embed_curated_answer

    embed_curated_answer.delay(tenant_id, entry_id)


@transaction.atomic
def curated_create(
    *,
    tenant_id: int,
    user_id: int | None,
    questions: Any,
    answer: Any,
    enabled: bool = True,
    declined_questions: Any = None,
    source_message_id: int | None = None,
) -> CuratedAnswer:
    questions, answer, declined = _clean(questions, answer, declined_questions or [])
    Tenant.objects.select_for_update().filter(pk=tenant_id).first()  # the count below holds
    if CuratedAnswer.objects.for_tenant(tenant_id).count() >= MAX_ENTRIES:
        raise KnowledgeRefused("questions", f"at most {MAX_ENTRIES} curated answers a tenant")
    if enabled and (taken := _taken_elsewhere(tenant_id, questions, None)):
        raise KnowledgeRefused("questions", f"another curated answer has the phrasing {taken!r}")
    entry = CuratedAnswer.objects.for_tenant(tenant_id).create(
        tenant_id=tenant_id,
        questions=questions,
        declined_questions=declined,
        answer=answer,
        enabled=enabled,
        source_message_id=source_message_id,
        created_by_id=user_id,
    )
    tell_made(tenant_id=tenant_id, change=Change.CURATED_CREATED, target=_target(entry), now=_shown(entry))
    _changed(entry, embed=True)
    return entry


def _shown(entry: CuratedAnswer) -> dict[str, Any]:
    return shown(entry, ["questions", "answer", "enabled", "declined_questions"])


def _target(entry: CuratedAnswer) -> str:
    return str(entry.questions[0]) if entry.questions else f"curated answer {entry.pk}"


@transaction.atomic
def curated_update(*, tenant_id: int, entry_id: int, changes: dict[str, Any]) -> CuratedAnswer | None:
    """``changes``: any of ``questions``, ``answer``, ``enabled``, ``declined_questions``. None:
    no such entry. A declined question added as a phrasing is no longer declined."""
    entry = CuratedAnswer.objects.for_tenant(tenant_id).select_for_update().filter(pk=entry_id).first()
    if entry is None:
        return None
    questions = changes.get("questions", entry.questions)
    declined = changes.get("declined_questions")
    if declined is None and isinstance(questions, list):
        phrasings = {normalized(q) for q in questions if isinstance(q, str)}
        declined = [q for q in entry.declined_questions if normalized(q) not in phrasings]
    questions, answer, declined = _clean(questions, changes.get("answer", entry.answer), declined)
    enabled = bool(changes.get("enabled", entry.enabled))
    if enabled and (taken := _taken_elsewhere(tenant_id, questions, entry.pk)):
        raise KnowledgeRefused("questions", f"another curated answer has the phrasing {taken!r}")
    reworded = questions != entry.questions
    before = _shown(entry)
    entry.questions, entry.answer, entry.enabled = questions, answer, enabled
    entry.declined_questions = declined
    if reworded:
        entry.embeddings = b""  # the old rows belong to the old phrasings
    entry.save()
    tell_changed(
        tenant_id=tenant_id,
        change=Change.CURATED_CHANGED,
        target=_target(entry),
        before=before,
        after=_shown(entry),
    )
    _changed(entry, embed=reworded)
    return entry


@transaction.atomic
def curated_delete(*, tenant_id: int, entry_id: int) -> bool:
    """The entry; the answers it gave stay, no longer pointing to it."""
    entry = CuratedAnswer.objects.for_tenant(tenant_id).filter(pk=entry_id).defer("embeddings").first()
    if entry is None:
        return False
    tell_gone(tenant_id=tenant_id, change=Change.CURATED_DELETED, target=_target(entry), was=_shown(entry))
    entry.delete()
    knowledge_changed(tenant_id)
    return True


def curated_embed(*, tenant_id: int, entry_id: int) -> str:
    """Store the embeddings of an entry's phrasings (a worker's job). Idempotent; phrasings
    changed meanwhile are embedded by the task their change queued."""
    entry = CuratedAnswer.objects.for_tenant(tenant_id).filter(pk=entry_id).first()
    if entry is None or not embedder_installed():
        return "skipped"
    vectors = embedder().embed_now(list(entry.questions))
    with transaction.atomic():
        stored = (
            CuratedAnswer.objects.for_tenant(tenant_id)
            .filter(pk=entry_id, questions=entry.questions)
            .update(embeddings=vectors.astype(np.float32).tobytes())
        )
        if stored:
            knowledge_changed(tenant_id)
    log.info("knowledge.curated_embedded", entry_id=entry_id, phrasings=len(entry.questions))
    return "embedded" if stored else "skipped"
