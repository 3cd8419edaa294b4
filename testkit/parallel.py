"""Loaded before anything else (``-p testkit.parallel``, by ``scripts/test.sh``: before
pytest-django reads the settings): each pytest-xdist worker ``gw<n>`` gets Redis databases
of its own, ``1 + 2n`` for the suite (``REDIS_URL``) and ``2 + 2n`` for the live platforms it
starts (``LIVE_REDIS_URL``): the suite flushes both. pytest-django already gives each worker its
own test database. A run without workers is left as it is. The files are dealt longest first."""

import os

import pytest

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and "REDIS_URL" in os.environ:
    _number = int(_worker.removeprefix("gw"))
    _server = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    os.environ["REDIS_URL"] = f"{_server}/{1 + 2 * _number}"
    os.environ["LIVE_REDIS_URL"] = f"{_server}/{2 + 2 * _number}"


# The longest files first: the live platforms' and the browsers'. ``--dist loadfile`` hands the
# files out in collection order as workers come free, so with the long ones dealt first the last
# files are short and neither worker waits long for the other at the end (largest first).
_LONGEST_FIRST = ("tests/live/", "tests/browser/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: 0 if item.nodeid.startswith(_LONGEST_FIRST) else 1)
