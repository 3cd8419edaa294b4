"""The statistics of experiment results, in plain Python (no SciPy at run time): confidence
intervals, the two-proportion z-test for rates, Welch's t-test for means.

Student's t distribution is computed through the regularized incomplete beta function
(Lentz's continued fraction, as in Numerical Recipes); the tests check it against SciPy.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

N = TypeVar("N", int, float)

Z_95 = 1.959963984540054
# Below these, a result is reported as too small to decide.
MIN_SAMPLE = 30
MIN_EVENTS = 5


def percentile(values: Sequence[N], q: float) -> N | None:
    """The nearest-rank percentile ``q`` (0-100) of ``values``; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))]


def normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    tiny, epsilon = 1e-300, 3e-16
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < epsilon:
            break
    return result


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_continued_fraction(b, a, 1 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom (any real df > 0)."""
    return incomplete_beta(df / 2, 0.5, df / (df + t * t))


def t_quantile_975(df: float) -> float:
    """The 97.5 % quantile of Student's t (for 95 % intervals), by bisection on the CDF."""
    low, high = 0.0, 100.0
    for _ in range(100):
        mid = (low + high) / 2
        if t_two_sided_p(mid, df) > 0.05:
            low = mid
        else:
            high = mid
    return (low + high) / 2


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    n: int


def proportion(successes: int, n: int) -> Estimate:
    """A rate with its 95 % Wilson interval (sound at small n and near 0 or 1)."""
    if n == 0:
        return Estimate(None, None, None, 0)
    p = successes / n
    z2 = Z_95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def mean(values: Sequence[float]) -> Estimate:
    """A mean with its 95 % t interval."""
    n = len(values)
    if n == 0:
        return Estimate(None, None, None, 0)
    average = sum(values) / n
    if n < 2:
        return Estimate(average, None, None, n)
    sd = math.sqrt(sum((v - average) ** 2 for v in values) / (n - 1))
    half = t_quantile_975(n - 1) * sd / math.sqrt(n)
    return Estimate(average, average - half, average + half, n)


@dataclass(frozen=True, slots=True)
class Comparison:
    test: str
    statistic: float | None
    p_value: float | None
    significant: bool  # at 5 %
    enough_data: bool


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> Comparison:
    """Rate of B against rate of A (pooled standard error)."""
    enough = n_a >= MIN_SAMPLE and n_b >= MIN_SAMPLE
    pooled_events = successes_a + successes_b
    pooled_misses = n_a + n_b - pooled_events
    enough = enough and min(pooled_events, pooled_misses) >= MIN_EVENTS
    if n_a == 0 or n_b == 0:
        return Comparison("two-proportion z-test", None, None, False, False)
    pooled = pooled_events / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return Comparison("two-proportion z-test", None, None, False, enough)
    z = (successes_b / n_b - successes_a / n_a) / se
    p = 2 * (1 - normal_cdf(abs(z)))
    return Comparison("two-proportion z-test", z, p, enough and p < 0.05, enough)


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Mean of B against mean of A, variances not assumed equal."""
    n_a, n_b = len(a), len(b)
    enough = n_a >= MIN_SAMPLE and n_b >= MIN_SAMPLE
    if n_a < 2 or n_b < 2:
        return Comparison("Welch's t-test", None, None, False, False)
    mean_a, mean_b = sum(a) / n_a, sum(b) / n_b
    var_a = sum((x - mean_a) ** 2 for x in a) / (n_a - 1)
    var_b = sum((x - mean_b) ** 2 for x in b) / (n_b - 1)
    se2 = var_a / n_a + var_b / n_b
    if se2 == 0:
        return Comparison("Welch's t-test", None, None, False, enough)
    t = (mean_b - mean_a) / math.sqrt(se2)
    df = se2**2 / ((var_a / n_a) ** 2 / (n_a - 1) + (var_b / n_b) ** 2 / (n_b - 1))
    p = t_two_sided_p(t, df)
    return Comparison("Welch's t-test", t, p, enough and p < 0.05, enough)
