"""List prices in USD per 1M tokens; ``cached_input`` where the provider discounts cache reads."""

from decimal import Decimal
from typing import Any

DEMO_MODEL = "demo"

MODEL_PRICES: list[dict[str, Any]] = [
    {"model": "gpt-4o-mini", "images": True, "input": "0.15", "output": "0.60", "cached_input": "0.075"},
    {"model": "gpt-4o", "images": True, "input": "2.50", "output": "10.00", "cached_input": "1.25"},
    {"model": "claude-haiku-4.5", "images": True, "input": "0.80", "output": "4.00", "cached_input": "0.08"},
    {
        "model": "claude-sonnet-4.6",
        "images": True,
        "input": "3.00",
        "output": "15.00",
        "cached_input": "0.30",
    },
    {"model": "claude-opus-4.6", "images": True, "input": "15.00", "output": "75.00", "cached_input": "1.50"},
    # The offline demo model costs nothing.
    {"model": DEMO_MODEL, "input": "0", "output": "0", "cached_input": "0"},
]


def seed_model_prices(price_model: Any) -> None:
    """Create or update the seeded prices (tests that flush the database; the migrations keep
    frozen copies of their own)."""
    for price in MODEL_PRICES:
        defaults = {
            "input_per_mtok": Decimal(price["input"]),
            "output_per_mtok": Decimal(price["output"]),
            "cached_input_per_mtok": Decimal(price["cached_input"]),
            "accepts_images": price.get("images", False),
        }
        price_model.objects.update_or_create(model=price["model"], defaults=defaults)
