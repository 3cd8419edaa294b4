"""Migrations are history: none reads today's code to decide what it writes (the tiers' values
are frozen in each migration that seeds them), and together they write what ``tenants.seeds``
holds today, so a change to the seeds comes with a migration of its own."""

import importlib
import re
from pathlib import Path

from billing.seeds import MODEL_PRICES
from tenants.seeds import TIERS

ROOT = Path(__file__).resolve().parents[2]


def test_no_migration_imports_seed_code() -> None:
    importing = [
        str(path.relative_to(ROOT))
        for path in ROOT.glob("*/migrations/0*.py")
        if re.search(r"^\s*(from|import)\s+\S*seeds\b", path.read_text(), re.MULTILINE)
    ]
    assert not importing, importing


def test_the_frozen_tiers_add_up_to_todays_seeds() -> None:
    written: dict[str, dict[str, object]] = {}
    for path in sorted((ROOT / "tenants" / "migrations").glob("0*.py")):
        frozen = getattr(importlib.import_module(f"tenants.migrations.{path.stem}"), "TIERS", None)
        for slug, values in (frozen or {}).items():
            written.setdefault(slug, {}).update(values)
    assert set(written) == {tier["slug"] for tier in TIERS}
    for tier in TIERS:
        assert written[tier["slug"]] == {k: v for k, v in tier.items() if k != "slug"}, tier["slug"]


def test_the_frozen_prices_are_todays_seeds() -> None:
    prices = importlib.import_module("billing.migrations.0002_seed_model_prices").PRICES
    readers = importlib.import_module("billing.migrations.0007_model_accepts_images").IMAGE_READERS
    assert prices == {p["model"]: (p["input"], p["output"], p["cached_input"]) for p in MODEL_PRICES}
    assert readers == [p["model"] for p in MODEL_PRICES if p.get("images")]
