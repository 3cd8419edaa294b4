"""The server frames built in ``chat.frames`` are exactly those ``docs/protocol.md`` documents,
with the same fields, required and optional; the error codes too."""

import re
from pathlib import Path
from typing import get_args

from chat.frames import SERVER_FRAMES, ServerFrame
from chat.protocol import ErrorCode

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def _table(heading: str) -> dict[str, str]:
    """``frame`` -> its fields cell, from the table under ``heading``."""
    section = PROTOCOL.split(heading, 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-zA-Z_]+)` \|((?:[^|\\]|\\.)*)\|", section, flags=re.MULTILINE)
    return {name: cell for name, cell in rows}


def _documented_fields(cell: str) -> dict[str, bool]:
    """Field name -> required, from a cell like "`a`, `b`: int, `c`?: string" (values such as
    "`stop` \\| `length`" follow a colon or a bar, so they are not fields)."""
    return {name: not optional for name, optional in re.findall(r"(?:^ |, )`([a-z_]+)`(\??)", cell)}


def test_every_server_frame_is_documented_with_its_fields() -> None:
    documented = _table("### Server → client")
    assert set(documented) == SERVER_FRAMES
    for frame in get_args(ServerFrame):
        name = get_args(frame.__annotations__["type"])[0]
        fields = {key: key in frame.__required_keys__ for key in frame.__annotations__ if key != "type"}
        assert fields == _documented_fields(documented[name]), name


def test_every_error_code_is_documented() -> None:
    assert set(_table("## Error codes")) == {code.value for code in ErrorCode}
