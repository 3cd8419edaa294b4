"""Daphne on uvloop, with a graceful drain on SIGTERM:
``python -m chatplatform.server [daphne options] chatplatform.asgi:application``.

uvloop: Daphne creates its event loop when ``daphne.server`` is imported, with the current
asyncio policy; installing uvloop's policy first gives it uvloop. Per streamed token the process
does mostly event-loop work (socket readiness, wake-ups, transports), and uvloop roughly halved
the platform's overhead on time to first token at 100 concurrent streams (``bench/ws_bench.py``).

Drain: plain Daphne stops at once on SIGTERM, cancelling every answer in flight; this server
drains first (``chatplatform.daphne_ext``). Every ``daphne`` option works unchanged.

Several processes on one port (``DAPHNE_REUSEPORT=1``, what ``scripts/run.sh`` sets for
``DAPHNE_PROCESSES`` above 1): each process opens its own listening socket on ``-b``/``-p`` with
``SO_REUSEPORT``, so the kernel spreads new connections over the processes, and hands it to
Daphne (``--fd``). One event loop per core: the processes share nothing but Redis and
PostgreSQL, as instances on several machines do.

GIL hand-over (``GIL_SWITCH_INTERVAL_MS``, default 0.5): the ORM runs on threads, and a thread
whose query has returned waits for the event loop to let go of the GIL, up to Python's switch
interval (5 ms by default) while the loop is busy streaming. At 0.5 ms the work before the
upstream call took 10 % less time at 5 streams, for the same CPU (``bench/ws_bench.py --versus``).
"""

import asyncio
import os
import socket
import sys

import uvloop

from infra.env import env_float


def _preload_embedding_model() -> None:
    """Start loading the semantic cache's model in the background when a tenant uses it (the
    first message must not wait for it; a deployment where no tenant does never loads it). A
    tenant that turns the cache on later starts the loading with its first message."""
    from django.db import DatabaseError, connections

    from infra.embedder import embedder, embedder_installed
    from tenants.models import Tenant

    if not embedder_installed():
        return
    try:
        wanted = Tenant.objects.filter(active=True, semantic_cache_enabled=True).exists()
    except DatabaseError:
        wanted = True  # cannot tell: better loaded for nothing than a slow first message
    finally:
        connections.close_all()  # back to the pool: the event loop's thread holds none
    if wanted:
        embedder().start_loading()


def _listen_reusing_port(argv: list[str]) -> list[str]:
    """``argv`` with ``-b HOST -p PORT`` replaced by ``--fd`` of a socket listening there with
    ``SO_REUSEPORT`` (kept open for Daphne)."""
    host, port, rest = "127.0.0.1", 8000, []
    args = iter(argv)
    for arg in args:
        if arg in ("-b", "--bind"):
            host = next(args)
        elif arg in ("-p", "--port"):
            port = int(next(args))
        else:
            rest.append(arg)
    # Daphne adopts the descriptor as an IPv4 socket ("fd:fileno=N").
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(socket.SOMAXCONN)
    return ["--fd", str(listener.detach()), *rest]  # the descriptor is Daphne's now


def main() -> None:
    if os.environ.get("DAPHNE_REUSEPORT") == "1":
        sys.argv[1:] = _listen_reusing_port(sys.argv[1:])
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.setswitchinterval(env_float("GIL_SWITCH_INTERVAL_MS", 0.5) / 1000)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
    import django

    django.setup()
    from infra.metrics import warn_if_unscrapable

    warn_if_unscrapable()
    _preload_embedding_model()
    # Imported after the policy (see above) and after Django's set-up.
    from daphne.cli import CommandLineInterface

    from chatplatform.daphne_ext import ChatServer

    CommandLineInterface.server_class = ChatServer
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
