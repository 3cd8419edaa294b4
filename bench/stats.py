"""Small statistics shared by the benchmarks."""


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile (``nan`` for no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))]
