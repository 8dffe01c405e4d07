"""Honest progress for long materializations: datasets done of total, rows, rate, ETA."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..build.builder import BuildProgress
from .orphans import raise_if_orphaned

__all__ = ["RunProgress"]

_LOG_EVERY_SECONDS = 5.0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class RunProgress:
    """Counts finished datasets and rows; logs at most every few seconds while a build runs."""

    total: int
    log: Callable[[str], Any]
    # False: a line every few seconds and at the end, not one per dataset (each is an event).
    log_each: bool = True
    done: int = 0
    hits: int = 0
    rows: int = 0
    started: float = field(default_factory=time.monotonic)
    _last_log: float = 0.0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta_seconds(self) -> float | None:
        if not self.done:
            return None
        return self.elapsed / self.done * (self.total - self.done)

    def finished(self, name: str, rows: int, hit: bool) -> str:
        """Record one dataset; returns the run's progress so far, for its metadata."""
        self.done += 1
        self.hits += int(hit)
        self.rows += 0 if hit else rows
        rate = self.rows / self.elapsed if self.elapsed > 0 else 0.0
        now = time.monotonic()
        if self.log_each or self.done == self.total or now - self._last_log >= _LOG_EVERY_SECONDS:
            if not self.log_each:
                self._last_log = now
            self.log(
                f"{self.done}/{self.total} datasets ({self.hits} already stored): {name} "
                f"{'hit' if hit else 'built'}; {self.rows:,} rows read at {rate:,.0f} rows/s; "
                f"ETA {_duration(self.eta_seconds())}"
            )
        return self.finished_text()

    def finished_text(self) -> str:
        return (
            f"{self.done} of {self.total} datasets ({self.hits} already stored), "
            f"{self.rows:,} rows read in {_duration(self.elapsed)}"
        )

    def build_callback(self, name: str) -> Callable[[BuildProgress], None]:
        """Per-block progress of one build, logged every few seconds; the build's cancellation
        point when the run worker is gone."""

        def report(p: BuildProgress) -> None:
            raise_if_orphaned()
            now = time.monotonic()
            if now - self._last_log < _LOG_EVERY_SECONDS:
                return
            self._last_log = now
            of = f" of {p.rows_total:,}" if p.rows_total is not None else ""
            self.log(
                f"{name}: {p.rows_done:,}{of} rows at {p.rows_per_second:,.0f} rows/s, "
                f"ETA {_duration(p.eta_seconds)} (dataset {self.done + 1}/{self.total})"
            )

        return report
