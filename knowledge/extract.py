"""A document's text, by its type, as sections (heading, text): the units chunking keeps apart.

Plain text and Markdown split at Markdown headings; HTML at its ``h1`` to ``h6`` (scripts, styles
and markup dropped); CSV becomes one line per row, each value named by its column; PDF one
section per page (pypdf). Anything else, or a file that does not parse, is ``Unreadable``.
"""

import csv
import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from chatplatform.safe_json import storable

# What each accepted type is recognised by: its content type, or its file name's extension.
TYPES = {
    "text/plain": (".txt",),
    "text/markdown": (".md", ".markdown"),
    "text/html": (".html", ".htm"),
    "text/csv": (".csv",),
    "application/pdf": (".pdf",),
}


class Unreadable(Exception):
    """The file cannot be turned into text; the message says why (shown on the document)."""


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    text: str


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
    if content_type == "application/pdf":
        found = _pdf(data)
    else:
        text = _decode(data)
        found = {
            "text/plain": _markdown,
            "text/markdown": _markdown,
            "text/html": _html,
            "text/csv": _csv,
        }[content_type](text)
    # What PostgreSQL cannot store (NUL, lone surrogates) is replaced, never a failed write.
    kept = [Section(storable(s.heading.strip())[:300], storable(s.text.strip())) for s in found]
    kept = [s for s in kept if s.text]
    if not kept:
        raise Unreadable("no text found in the file")
    return kept


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _markdown(text: str) -> list[Section]:
    sections: list[Section] = []
    heading = ""
    lines: list[str] = []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            sections.append(Section(heading, "\n".join(lines)))
            heading, lines = match.group(2), []
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
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise Unreadable(f"not a readable PDF file: {exc}") from None
    return [Section(f"page {number}", text) for number, text in enumerate(pages, start=1)]
