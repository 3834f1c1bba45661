"""The per-account circuit breaker: stop calling an account that keeps failing, probe it later."""
from __future__ import annotations

from .clock import Clock
from mortard.heartland_contract.errors import HeartlandUnavailable
from .outcome import Outcome

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """closed -> open after `threshold` consecutive failures -> half_open after `cooldown` (one probe)
    -> closed on the probe's success, open again on its failure."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __init__(
        self, clock: Clock, *, threshold: int = 5, cooldown: float = 30.0, account: str | None = None
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.account = account
        self._clock = clock
        self.state = self.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def check(self) -> None:
        """Raise `HeartlandUnavailable` if a request would be refused now (claims nothing)."""
        if self.state == self.OPEN and self._remaining() > 0:
            self._refuse()
        if self.state == self.HALF_OPEN and self._probing:
            self._refuse()

    def enter(self) -> bool:
        """Admit one request or raise `HeartlandUnavailable`; in half-open, admit only the probe.

        Returns True when the admitted request is the half-open probe; pass it back to `record`.
        """
        if self.state == self.OPEN:
            if self._remaining() > 0:
                self._refuse()
            self.state = self.HALF_OPEN
        if self.state == self.HALF_OPEN:
            if self._probing:
                self._refuse()
            self._probing = True
            return True
        return False

    def record(self, outcome: Outcome, probe: bool = False) -> None:
        """Report how an admitted request ended (`probe` as returned by `enter`)."""
        if probe:
            self._probing = False
        if outcome is Outcome.IGNORE:
            return  # cancelled: a probe slot is freed, nothing learned
        if self.state == self.HALF_OPEN:
            if probe and outcome is Outcome.FAILURE:
                self._open()
            elif probe:
                self._close()
            return
        if self.state == self.OPEN:
            return  # a late answer to a request admitted before the breaker opened
        if outcome is Outcome.FAILURE:
            self.failures += 1
            if self.failures >= self.threshold:
                self._open()
        else:
            self.failures = 0

    def _close(self) -> None:
        self.state = self.CLOSED
        self.failures = 0

    def _open(self) -> None:
        self.state = self.OPEN
        self._opened_at = self._clock.now()

    def _remaining(self) -> float:
        return self._opened_at + self.cooldown - self._clock.now()

    def _refuse(self) -> None:
        raise HeartlandUnavailable(
            "circuit breaker open", account=self.account, retry_after=max(0.0, self._remaining())
        )
