"""Message ids allocated before a generation starts.

Token frames carry the answer's ``message_id`` from the first frame on, but the messages are
written only when the answer ends, in one transaction. So the ids come first: on PostgreSQL from
the table's own identity sequence (safe across processes and instances); on the embedded SQLite
default, which runs as one process, from an in-process counter seeded from the table.
"""

import threading

from django.db import connection

from chat.models import Message

_lock = threading.Lock()
_next_local_id: int | None = None


def allocate_message_ids(count: int) -> list[int]:
    table = Message._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
    global _next_local_id
    with _lock:
        if _next_local_id is None:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
                _next_local_id = cursor.fetchone()[0] + 1
        first = _next_local_id
        _next_local_id += count
    return list(range(first, first + count))
