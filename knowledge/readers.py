"""The readers of each accepted type, run in a child process with limits on its memory and CPU
(``knowledge.extract`` starts it): ``python -m knowledge.readers CONTENT_TYPE MEMORY_BYTES
CPU_SECONDS MAX_CHARS``, the file on stdin, a JSON answer on stdout (``{"sections": [[heading,
text], ...]}`` or ``{"error": reason}``).

A hostile file must cost a bounded share of a worker, and end in a reason a person understands:
a PDF whose stream inflates to hundreds of megabytes, or whose objects nest a hundred thousand
deep, made pypdf raise errors nothing caught (documents stuck ``pending``, uploads answered 500).
Here the limits are the process's own (``RLIMIT_AS``, ``RLIMIT_CPU``; the parent adds a wall-clock
timeout), and every failure is named. This module imports nothing of the project's but itself:
the child starts in a few tens of milliseconds (pypdf is imported only for a PDF).

Plain text and Markdown split at Markdown headings; HTML at its ``h1`` to ``h6`` (scripts, styles
and markup dropped); CSV becomes one line per row, each value named by its column; PDF one
section per page (pypdf).
"""

import csv
import io
import json
import re
import resource
import sys
from dataclasses import dataclass
from html.parser import HTMLParser

EXPANDS = "the file's content expands past what may be read (a compressed stream too large)"
TOO_DEEP = "the file is nested too deeply to read"
TOO_LARGE = "reading the file needs more memory than a file may take"


class Unreadable(Exception):
    """The file cannot be turned into text; the message says why (shown on the document)."""


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    text: str


def read(content_type: str, data: bytes) -> list[Section]:
    if content_type == "application/pdf":
        return _pdf(data)
    return {
        "text/plain": _markdown,
        "text/markdown": _markdown,
        "text/html": _html,
        "text/csv": _csv,
    }[content_type](_decode(data))


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


# The closing hashes of a heading are stripped after the match: ``(.+?)\s*#*\s*$`` backtracked
# cubically on a heading line of spaces (4,000 of them took 44 s of CPU).
_HEADING = re.compile(r"^#{1,6}[ \t]+(\S.*)$")


def _markdown(text: str) -> list[Section]:
    sections: list[Section] = []
    heading = ""
    lines: list[str] = []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            sections.append(Section(heading, "\n".join(lines)))
            title = match.group(1).rstrip()
            heading, lines = title.rstrip("#").rstrip() or title, []
        else:
            lines.append(line)
    sections.append(Section(heading, "\n".join(lines)))
    return sections


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCK = frozenset({"p", "div", "li", "br", "tr", "section", "article", "table", "ul", "ol", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self._heading = ""
        self._parts: list[str] = []
        self._in_heading: list[str] | None = None
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._in_heading = []
        elif tag in self._BLOCK:
            self._parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self._in_heading is not None:
            self.sections.append(Section(self._heading, "".join(self._parts)))
            self._heading, self._parts, self._in_heading = (
                " ".join("".join(self._in_heading).split()),
                [],
                None,
            )
        elif tag in self._BLOCK:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        (self._in_heading if self._in_heading is not None else self._parts).append(data)

    def close(self) -> None:
        super().close()
        self.sections.append(Section(self._heading, "".join(self._parts)))


def _html(text: str) -> list[Section]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return [
        Section(s.heading, re.sub(r"[ \t]*\n\s*", "\n\n", re.sub(r"[ \t]+", " ", s.text)))
        for s in parser.sections
    ]


def _csv(text: str) -> list[Section]:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise Unreadable(f"not a valid CSV file: {exc}") from None
    if not rows:
        return []
    header, *body = rows
    lines = [
        "; ".join(
            f"{name.strip()}: {value.strip()}"
            for name, value in zip(header, row, strict=False)
            if value.strip()
        )
        for row in body
    ]
    # One paragraph per row: chunking keeps rows whole.
    return [Section("", "\n\n".join(line for line in lines if line))]


def _pdf(data: bytes) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except LimitReachedError:
        raise Unreadable(EXPANDS) from None
    except (PdfReadError, ValueError, KeyError, TypeError):
        # The library's own words ("Stream has ended unexpectedly") help nobody who reads this.
        raise Unreadable("not a readable PDF file: it may be damaged, cut short or protected") from None
    return [Section(f"page {number}", text) for number, text in enumerate(pages, start=1)]


def _answer(content_type: str, data: bytes, max_chars: int) -> dict[str, object]:
    try:
        sections = read(content_type, data)
    except Unreadable as exc:
        return {"error": str(exc)}
    except RecursionError:
        return {"error": TOO_DEEP}
    except MemoryError:
        return {"error": TOO_LARGE}
    except Exception as exc:  # a reader's bug or a library's unforeseen error: still a reason
        return {"error": f"the file could not be read ({type(exc).__name__})"}
    if sum(len(s.heading) + len(s.text) for s in sections) > max_chars:
        return {"error": f"the file holds more than {max_chars} characters of text"}
    return {"sections": [[s.heading, s.text] for s in sections]}


def main() -> None:
    content_type, memory, cpu, max_chars = sys.argv[1], *map(int, sys.argv[2:5])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    answer = _answer(content_type, sys.stdin.buffer.read(), max_chars)
    try:
        out = json.dumps(answer, ensure_ascii=False)
    except MemoryError:
        out = json.dumps({"error": TOO_LARGE})
    sys.stdout.buffer.write(out.encode("utf-8", "surrogatepass"))


if __name__ == "__main__":
    main()
