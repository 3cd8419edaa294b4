"""The circuit breaker's settings, the passes it grants and its store's interface."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from django.conf import settings


class Pass(StrEnum):
    CLOSED = "closed"  # go ahead
    PROBE = "probe"  # go ahead: this request decides whether the breaker closes
    OPEN = "open"  # do not call this model now


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    consecutive_failures: int
    error_rate: float
    min_requests: int
    window_s: float
    cooldown_s: float
    probe_timeout_s: float

    @classmethod
    def from_settings(cls) -> "BreakerSettings":
        return cls(
            consecutive_failures=settings.BREAKER_CONSECUTIVE_FAILURES,
            error_rate=settings.BREAKER_ERROR_RATE,
            min_requests=settings.BREAKER_MIN_REQUESTS,
            window_s=settings.BREAKER_WINDOW_S,
            cooldown_s=settings.BREAKER_COOLDOWN_S,
            probe_timeout_s=settings.BREAKER_PROBE_TIMEOUT_S,
        )


class BreakerStore(Protocol):
    async def acquire(self, scope: str, rules: BreakerSettings) -> Pass: ...

    async def report(self, scope: str, rules: BreakerSettings, *, ok: bool | None, probe: bool) -> Pass:
        """``ok=None``: no verdict (a cancelled answer); a probe is released without one."""
        ...
