"""Rows streamed as CSV or JSON (an export of any size never sits in memory). CSV cells a
spreadsheet would run as a formula get a leading quote."""

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse

FORMATS = ["csv", "json"]

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): a message
# or a username such as ``=HYPERLINK(...)``. OWASP's advice: prefix them with a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def _csv(rows: Iterator[dict[str, Any]], fields: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({field: _cell(value) for field, value in row.items()})
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    yield "["
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(row, ensure_ascii=False)
    yield "]"


def stream_rows(
    rows: Iterator[dict[str, Any]], *, fields: list[str], fmt: str, filename: str
) -> StreamingHttpResponse:
    """An attachment ``{filename}.{fmt}``: the rows (each with ``fields``; in CSV a value that is
    not a string is written as ``str`` would) as CSV or as a JSON array."""
    if fmt == "csv":
        response = StreamingHttpResponse(_csv(rows, fields), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_json(rows), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
