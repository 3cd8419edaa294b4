"""The inbox socket's frames (``inbox.frames``) are exactly those ``docs/protocol.md`` documents
under "The inbox socket", with the same fields; so are the frames it accepts."""

import re
from typing import get_args

from inbox.frames import INBOX_CLIENT_FRAMES, INBOX_SERVER_FRAMES, InboxServerFrame
from tests.chat.test_frames import PROTOCOL, _documented_fields

SECTION = PROTOCOL.split("## The inbox socket", 1)[1].split("\n## ", 1)[0]
CLIENT, SERVER = SECTION.split("Client → server:", 1)[1].split("Server → client:", 1)
SERVER = SERVER.split("Everything else", 1)[0]
# Shared with the chat socket (chat.frames), documented there with every field.
SHARED = {"agent_message", "error", "ping", "pong"}


def _rows(table: str) -> dict[str, str]:
    """``frame`` -> its fields cell (a row may name two frames: "`ping` / `pong`")."""
    rows = re.findall(r"^\| ((?:`[a-z_]+`(?: / )?)+) \|((?:[^|\\]|\\.)*)\|", table, flags=re.MULTILINE)
    return {name: cell for names, cell in rows for name in re.findall(r"`([a-z_]+)`", names)}


def test_every_inbox_server_frame_is_documented_with_its_fields() -> None:
    documented = _rows(SERVER)
    assert set(documented) == INBOX_SERVER_FRAMES
    for frame in get_args(InboxServerFrame):
        name = get_args(frame.__annotations__["type"])[0]
        if name in SHARED:
            continue
        fields = {key: key in frame.__required_keys__ for key in frame.__annotations__ if key != "type"}
        assert fields == _documented_fields(documented[name]), name


def test_every_inbox_client_frame_is_documented() -> None:
    assert set(_rows(CLIENT)) == INBOX_CLIENT_FRAMES
