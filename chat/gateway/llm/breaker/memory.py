"""Breaker state in this process (the embedded default)."""

import time
from dataclasses import dataclass, field

from chat.gateway.llm.breaker.base import BreakerSettings, Pass


@dataclass
class _State:
    open_until: float = 0.0
    tripped: bool = False
    probe_until: float = 0.0
    consecutive: int = 0
    window_start: float = 0.0
    total: int = 0
    failed: int = 0


@dataclass
class MemoryBreakerStore:
    """The same state machine in this process, for the embedded default."""

    states: dict[str, _State] = field(default_factory=dict)

    async def acquire(self, scope: str, rules: BreakerSettings) -> Pass:
        state, now = self.states.setdefault(scope, _State()), time.monotonic()
        if state.open_until > now:
            return Pass.OPEN
        if not state.tripped:
            return Pass.CLOSED
        if state.probe_until <= now:
            state.probe_until = now + rules.probe_timeout_s
            return Pass.PROBE
        return Pass.OPEN

    async def report(self, scope: str, rules: BreakerSettings, *, ok: bool | None, probe: bool) -> Pass:
        state, now = self.states.setdefault(scope, _State()), time.monotonic()

        def trip() -> Pass:
            self.states[scope] = _State(open_until=now + rules.cooldown_s, tripped=True)
            return Pass.OPEN

        if probe:
            state.probe_until = 0.0
            if ok is True:
                self.states[scope] = _State()
                return Pass.CLOSED
            if ok is False:
                return trip()
        current = Pass.OPEN if state.open_until > now else Pass.CLOSED
        if ok is None:
            return current
        if now - state.window_start >= rules.window_s:
            state.window_start, state.total, state.failed = now, 0, 0
        state.total += 1
        if ok:
            state.consecutive = 0
            return current
        state.failed += 1
        state.consecutive += 1
        if current is Pass.OPEN:
            return current
        if state.consecutive >= rules.consecutive_failures or (
            state.total >= rules.min_requests and state.failed / state.total >= rules.error_rate
        ):
            return trip()
        return Pass.CLOSED
