"""What the first connection after a PostgreSQL restart costs, with psycopg_pool's own pool (the
reference: what Django builds) and with the platform's (``infra.postgres``), in one run.

    .venv/bin/python bench/pool_restart.py [--pooled 4] [--rounds 5]

A cluster of its own (``initdb`` in a temporary folder, as the tests do); each round opens a pool
of ``--pooled`` connections with the health check Django's ``CONN_HEALTH_CHECKS`` installs and
the platform's timeout (``DB_POOL_TIMEOUT_S``, 3 s), restarts the cluster (``pg_ctl -m fast``,
which cuts every connection), then times one ``getconn`` + ``SELECT 1``: a connection, or the
pool's timeout (issue 30, 4: a request refused though the database was back).
"""

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

from psycopg_pool import ConnectionPool, PoolTimeout

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.postgres.base import RestartTolerantPool  # noqa: E402
from testkit.live import OwnPostgres  # noqa: E402

TIMEOUT_S = 3.0


def first_after_restart(server: OwnPostgres, pool_class: type[ConnectionPool], pooled: int) -> float | None:
    """Seconds to the first working connection after a restart; None: the pool timed out."""
    pool = pool_class(
        server.url, min_size=pooled, max_size=20, timeout=TIMEOUT_S, check=ConnectionPool.check_connection
    )
    try:
        pool.wait(timeout=30)
        server.stop()
        server.start()
        started = time.perf_counter()
        try:
            with pool.connection() as connection:
                connection.execute("SELECT 1")
        except PoolTimeout:
            return None
        return time.perf_counter() - started
    finally:
        pool.close()


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--pooled", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # each dead connection's warning
    server = OwnPostgres()
    server.create()
    report: dict[str, object] = {"pooled": args.pooled, "pool_timeout_s": TIMEOUT_S}
    try:
        for name, pool_class in [
            ("psycopg_pool (reference)", ConnectionPool),
            ("infra.postgres", RestartTolerantPool),
        ]:
            times = [first_after_restart(server, pool_class, args.pooled) for _ in range(args.rounds)]
            answered = [t for t in times if t is not None]
            report[name] = {
                "timed_out": len(times) - len(answered),
                "rounds": len(times),
                "median_s_when_answered": round(statistics.median(answered), 3) if answered else None,
            }
    finally:
        server.destroy()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
