"""What tokens cost, and how much context a model is sent. Prices change rarely, so each
process keeps them for a minute.

A model with no price of its own (its ``ModelPrice`` row was deleted after a tenant chose it; the
config refuses unpriced models) is never free: it is billed at the dearest price known, input and
output each, and the usage record is flagged ``priced_by_default``."""

import time
from dataclasses import dataclass, replace
from decimal import Decimal

from billing.models import ModelPrice

_MTOK = Decimal(1_000_000)
_TTL_SECONDS = 60.0
_cache: tuple[float, dict[str, "Price"]] | None = None
_DEFAULT = ""  # the cache's key for the default (no model is named "")


@dataclass(frozen=True, slots=True)
class Price:
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None
    context_tokens: int = 8000  # the most a request to this model may send (chat.history.context)
    # No price of its own: the conservative default (module docstring).
    by_default: bool = False
    # The model reads images (``ModelPrice.accepts_images``).
    accepts_images: bool = False

    def cost(self, *, input_tokens: int, output_tokens: int, cached_input_tokens: int) -> Decimal:
        """USD for one answer; cached input tokens at the cached-input price where there is one."""
        cached = min(cached_input_tokens, input_tokens)
        cached_price = (
            self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        )
        total = (
            (input_tokens - cached) * self.input_per_mtok
            + cached * cached_price
            + output_tokens * self.output_per_mtok
        )
        return (total / _MTOK).quantize(Decimal("0.00000001"))

    def dearer(self, other: "Price") -> "Price":
        """Input and output each at the dearer of the two prices: a bound on what either costs."""
        return replace(
            self,
            input_per_mtok=max(self.input_per_mtok, other.input_per_mtok),
            output_per_mtok=max(self.output_per_mtok, other.output_per_mtok),
            cached_input_per_mtok=None,
        )

    def most(self, *, tokens: int, output_tokens: int) -> Decimal:
        """The most ``tokens`` can cost when at most ``output_tokens`` of them are output."""
        output = min(output_tokens, tokens)
        return max(
            self.cost(input_tokens=tokens - output, output_tokens=output, cached_input_tokens=0),
            self.cost(input_tokens=tokens, output_tokens=0, cached_input_tokens=0),
        )


# The default when the table is empty too: a frontier model's list price (USD per 1M tokens).
_LAST_RESORT = Price(Decimal("15"), Decimal("75"), None, by_default=True)


def _dearest(prices: list[Price]) -> Price:
    if not prices:
        return _LAST_RESORT
    return Price(
        max(p.input_per_mtok for p in prices),
        max(p.output_per_mtok for p in prices),
        None,
        min(p.context_tokens for p in prices),
        by_default=True,
    )


def price_for(model: str) -> Price:
    """The model's price, or the conservative default (flagged ``by_default``)."""
    global _cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > _TTL_SECONDS:
        prices = {
            p.model: Price(
                p.input_per_mtok,
                p.output_per_mtok,
                p.cached_input_per_mtok,
                p.context_tokens,
                accepts_images=p.accepts_images,
            )
            for p in ModelPrice.objects.all()
        }
        _cache = (now, {**prices, _DEFAULT: _dearest(list(prices.values()))})
    prices = _cache[1]
    return prices.get(model) or prices[_DEFAULT]


def forget_prices() -> None:
    """Drop the cached prices (after an admin edits them, and in tests)."""
    global _cache
    _cache = None
