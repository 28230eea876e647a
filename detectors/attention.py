"""Attention: which cameras deserve full-rate decoding right now, under a global budget.

Decoding is what costs (DESIGN.md), so every camera runs keyframe-only until something happens
in one of its zones. Then it is promoted to full rate at its detect fps, and demoted after
`quiet_s` without activity. At most `budget` cameras are at full rate at once; when more want
it, the ones with an event in progress win, then the higher zone severity, then the most
recent activity. Pure policy: the caller applies the answer to ingest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class ModeChanges:
    """Slots to switch to full rate and back to keyframes (`promote_p`, `demote_d`)."""

    promote_p: npt.NDArray[np.intp]
    demote_d: npt.NDArray[np.intp]

    def __bool__(self) -> bool:
        return bool(len(self.promote_p) or len(self.demote_d))


class Attention:
    """Keeps the set of full-rate cameras; `update` says what to change.

    >>> attention = Attention(n=250, budget=25, quiet_s=20.0, severity_n=sev)  # doctest: +SKIP
    >>> changes = attention.update(active_n, in_event_n, now)
    """

    def __init__(
        self,
        n: int,
        budget: int,
        quiet_s: float,
        severity_n: npt.NDArray[np.int64],
        pinned_full_n: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self._budget = budget
        self._quiet_s = quiet_s
        self._severity_n = severity_n.astype(np.float64)
        self._last_active_n = np.full(n, -np.inf)
        self._pinned_n = (
            pinned_full_n if pinned_full_n is not None else np.zeros(n, np.bool_)
        ).copy()
        self.full_n = np.zeros(n, np.bool_)

    def configure(
        self, severity_n: npt.NDArray[np.int64], pinned_full_n: npt.NDArray[np.bool_]
    ) -> None:
        """New severities and pinned cameras (zones or decode modes changed while running)."""
        self._severity_n = severity_n.astype(np.float64)
        self._pinned_n = pinned_full_n.copy()

    def forget(self, slot: int) -> None:
        """A slot that starts again has no recent activity."""
        self._last_active_n[slot] = -np.inf

    def update(
        self,
        active_n: npt.NDArray[np.bool_],
        in_event_n: npt.NDArray[np.bool_],
        now: float,
    ) -> ModeChanges:
        """Record activity, then choose who runs at full rate within the budget."""
        self._last_active_n[active_n | in_event_n] = now
        wanting = (now - self._last_active_n <= self._quiet_s) & ~self._pinned_n
        candidates = np.flatnonzero(wanting)
        # Sort key: event in progress, severity, recency (numpy lexsort: last key first).
        order = np.lexsort(
            (
                self._last_active_n[candidates],
                self._severity_n[candidates],
                in_event_n[candidates],
            )
        )[::-1]
        chosen = np.zeros_like(self.full_n)
        chosen[candidates[order[: self._budget]]] = True
        promote = np.flatnonzero(chosen & ~self.full_n)
        demote = np.flatnonzero(~chosen & self.full_n)
        self.full_n = chosen
        return ModeChanges(promote, demote)
