"""Small statistics shared by the benchmarks."""

from tenants import stats


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile (``nan`` for no values), as the platform computes it."""
    found = stats.percentile(values, pct)
    return float("nan") if found is None else found
