"""A document's text, by its type, as sections (heading, text): the units chunking keeps apart.

The readers (``knowledge.readers``) run in a child process with its memory, CPU time and wall
time bounded (``FILE_READER_MEMORY_MB``, ``FILE_READER_CPU_S``, ``FILE_READER_TIMEOUT_S``) and
its text capped (``FILE_READER_MAX_CHARS``): whatever a file holds, reading it ends, in sections
or in ``Unreadable`` with a reason a person understands. An accepted type is recognised by its
declared content type or its file name's extension; anything else is ``Unreadable``.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from infra.safe_json import storable
from knowledge.readers import Section, Unreadable

__all__ = ["TYPES", "Section", "Unreadable", "content_type_of", "sections_of"]

# What each accepted type is recognised by: its content type, or its file name's extension.
TYPES = {
    "text/plain": (".txt",),
    "text/markdown": (".md", ".markdown"),
    "text/html": (".html", ".htm"),
    "text/csv": (".csv",),
    "application/pdf": (".pdf",),
}
_ROOT = Path(__file__).resolve().parent.parent


def content_type_of(filename: str, declared: str) -> str:
    """The accepted type of an upload: its declared content type when we know it, else its
    extension's; ``Unreadable`` when neither is accepted."""
    declared = declared.split(";")[0].strip().lower()
    if declared in TYPES:
        return declared
    lowered = filename.lower()
    for content_type, extensions in TYPES.items():
        if lowered.endswith(extensions):
            return content_type
    accepted = ", ".join(sorted({e for extensions in TYPES.values() for e in extensions}))
    raise Unreadable(f"unsupported file type; accepted: {accepted}")


def sections_of(content_type: str, data: bytes) -> list[Section]:
    if content_type not in TYPES:
        raise Unreadable(f"unsupported file type: {content_type}")
    found = [Section(heading, text) for heading, text in _read_in_child(content_type, data)]
    # What PostgreSQL cannot store (NUL, lone surrogates) is replaced, never a failed write.
    kept = [Section(storable(s.heading.strip())[:300], storable(s.text.strip())) for s in found]
    kept = [s for s in kept if s.text]
    if not kept:
        raise Unreadable("no text found in the file")
    return kept


def _read_in_child(content_type: str, data: bytes) -> list[list[str]]:
    cpu, timeout = settings.FILE_READER_CPU_S, settings.FILE_READER_TIMEOUT_S
    command = [
        sys.executable,
        "-m",
        "knowledge.readers",
        content_type,
        str(settings.FILE_READER_MEMORY_MB * 1024 * 1024),
        str(cpu),
        str(settings.FILE_READER_MAX_CHARS),
    ]
    # Nothing of the platform's environment (secrets, an allocator preloaded for Daphne) reaches
    # the process that reads a stranger's file.
    environment = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(_ROOT), "LANG": "C.UTF-8"}
    try:
        done = subprocess.run(  # noqa: S603  (our own interpreter and module, no shell)
            command, input=data, capture_output=True, timeout=timeout, env=environment, cwd=_ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        raise Unreadable(f"reading the file took longer than {timeout:g} s") from None
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise Unreadable(f"reading the file took more than {cpu} s of processing")
    try:
        answer = json.loads(done.stdout.decode("utf-8", "surrogatepass"))
    except ValueError:
        # Killed by a limit before it could answer (a MemoryError it could not even report).
        raise Unreadable("the file could not be read within the limits a file may take") from None
    if "error" in answer:
        raise Unreadable(answer["error"])
    return answer["sections"]  # type: ignore[no-any-return]
