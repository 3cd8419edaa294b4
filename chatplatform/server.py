"""Daphne on uvloop: ``python -m chatplatform.server [daphne options] chatplatform.asgi:application``.

Daphne creates its event loop when ``daphne.server`` is imported, with the current asyncio
policy; installing uvloop's policy first gives it uvloop. Per streamed token the process does
mostly event-loop work (socket readiness, wake-ups, transports), and uvloop roughly halved the
platform's overhead on time to first token at 100 concurrent streams (``bench/ws_bench.py``).
Every ``daphne`` option works unchanged; plain ``daphne`` still runs the app, on asyncio's loop.
"""

import asyncio

import uvloop


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface  # imported after the policy: see above

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
