"""PDFs built by hand (the tests need no PDF writer): a page of text, and hostile ones that
break a reader without limits."""

import zlib


def pdf_of(content: bytes, *, flate: bool = False) -> bytes:
    """A one-page PDF whose page content stream is ``content`` (compressed when ``flate``), with
    a Helvetica font as F1."""
    stream = zlib.compress(content, 9) if flate else content
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), b" /Filter /FlateDecode" if flate else b"")
        + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def pdf_with(lines: list[str]) -> bytes:
    """A one-page PDF whose text is ``lines``."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    content = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({line}) Tj 0 -16 Td" for line in escaped) + " ET"
    return pdf_of(content.encode())


def inflating_pdf() -> bytes:
    """About 195 KB whose content stream inflates to 200 MB (pypdf: ``LimitReachedError``)."""
    return pdf_of(b"BT /F1 12 Tf 72 712 Td (Hello) Tj ET\n" + b" " * 200_000_000, flate=True)


def nested_pdf() -> bytes:
    """About 200 KB of 100,000 nested arrays in its content stream (pypdf: ``RecursionError``)."""
    return pdf_of(b"BT /F1 12 Tf 72 712 Td " + b"[" * 100_000 + b"]" * 100_000 + b" TJ ET")


def slow_pdf() -> bytes:
    """About 2 KB whose 2,000,000 text operators take pypdf about 15 s of CPU to read."""
    return pdf_of(b"BT /F1 12 Tf " + b"(a) Tj " * 2_000_000 + b"ET", flate=True)
