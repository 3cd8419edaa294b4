"""Ids allocated before their rows are written.

Token frames carry the answer's ``message_id`` from the first frame on, but the messages are
written only when the answer ends, in one transaction; a socket's ``ready`` carries its
``conversation_id``, but the conversation is written with its first message (a bare connection
leaves nothing behind). So the ids come first: on PostgreSQL from the table's own identity
sequence (safe across processes and instances); on the embedded SQLite default, which runs as
one process, from an in-process counter per table seeded from the table.
"""

import threading

from django.db import connection, models

from chat.models import Conversation, Message

_lock = threading.Lock()
_next_local_ids: dict[str, int] = {}


def allocate_message_ids(count: int) -> list[int]:
    return _allocate(Message, count)


def message_ids_sql(count: int) -> str | None:
    """Select-list expressions that allocate ``count`` message ids inside another query (one
    round trip fewer) on PostgreSQL; None on SQLite, where ``allocate_message_ids`` does it."""
    if connection.vendor != "postgresql":
        return None
    return ", ".join([f"nextval(pg_get_serial_sequence('{Message._meta.db_table}', 'id'))"] * count)


def allocate_conversation_id() -> int:
    return _allocate(Conversation, 1)[0]


def _allocate(model: type[models.Model], count: int) -> list[int]:
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
    with _lock:
        if table not in _next_local_ids:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
                _next_local_ids[table] = cursor.fetchone()[0] + 1
        first = _next_local_ids[table]
        _next_local_ids[table] += count
    return list(range(first, first + count))
