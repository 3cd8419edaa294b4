"""The layout says where things live: every swappable part is one package with the same three
modules and a ``get_*`` factory, so a reader finds any of them the same way (STYLE.md §9)."""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each part with an embedded default and a production implementation, and its factory.
SWAPPABLE = {
    "billing.limits": "get_limit_store",
    "chat.gateway.response_cache": "get_response_cache",
    "chat.gateway.llm.breaker": "get_breaker_store",
    "chat.history.working_memory": "get_working_memory",
    "chat.history.outbox": "get_outbox",
    "chat.turns.store": "get_generation_store",
}


@pytest.mark.parametrize("package", SWAPPABLE)
def test_each_swappable_part_has_one_layout(package: str) -> None:
    folder = ROOT.joinpath(*package.split("."))
    assert {p.name for p in folder.glob("*.py")} == {"__init__.py", "base.py", "memory.py", "redis.py"}
    module = importlib.import_module(package)
    assert callable(getattr(module, SWAPPABLE[package]))
    factories = [name for name in module.__all__ if name.startswith(("get_", "new_"))]
    assert factories == [SWAPPABLE[package]]


def test_no_module_is_named_after_a_store_layout_it_does_not_follow() -> None:
    """The old spellings (``memory_store.py``, ``redis_store.py``) are gone."""
    stray = [str(p.relative_to(ROOT)) for p in ROOT.glob("*/**/*_store.py") if ".venv" not in p.parts]
    assert stray == []
