"""Loaded before anything else (``-p testkit.parallel``, by ``scripts/test.sh``: before
pytest-django reads the settings): each pytest-xdist worker ``gw<n>`` gets Redis databases
of its own, ``1 + 2n`` for the suite (``REDIS_URL``) and ``2 + 2n`` for the live platforms it
starts (``LIVE_REDIS_URL``): the suite flushes both. pytest-django already gives each worker its
own test database. A run without workers is left as it is."""

import os

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and "REDIS_URL" in os.environ:
    _number = int(_worker.removeprefix("gw"))
    _server = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    os.environ["REDIS_URL"] = f"{_server}/{1 + 2 * _number}"
    os.environ["LIVE_REDIS_URL"] = f"{_server}/{2 + 2 * _number}"
