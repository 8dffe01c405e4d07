"""Display knobs: how a bundle is shown, applied when it is read, never part of it."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Display"]


@dataclass(frozen=True)
class Display:
    """How a bundle is shown; applied when reading, never part of the bundle.

    ``pinned_rows`` replaces the pinned stat rows (stat names, or Buckaroo's
    ``{"primary_key_val": ..., "displayer_args": ...}`` dicts) and
    ``extra_pinned_rows`` appends to them.  ``column_config_overrides`` maps
    a column's original label (or its key ``a``, ``b``, ...) to entries merged
    into that column's config, e.g. ``{"price": {"displayer_args":
    {"max_fraction_digits": 2}}}``.  ``rows`` limits the rows shown (the first
    window at most); string cells longer than ``max_cell_chars`` are cut.
    """

    pinned_rows: Sequence[str | Mapping[str, Any]] | None = None
    extra_pinned_rows: Sequence[str | Mapping[str, Any]] = ()
    column_config_overrides: Mapping[Hashable, Mapping[str, Any]] = field(default_factory=dict)
    rows: int | None = None
    max_cell_chars: int = 10_000
    float_digits: int = 3
    locale: str = "en-US"

    def __post_init__(self) -> None:
        if self.rows is not None and (not isinstance(self.rows, int) or self.rows < 0):
            raise ValueError(f"rows must be a non-negative int or None, got {self.rows!r}")
        if not isinstance(self.max_cell_chars, int) or self.max_cell_chars < 1:
            raise ValueError(f"max_cell_chars must be a positive int, got {self.max_cell_chars!r}")
        if not isinstance(self.float_digits, int) or not 0 <= self.float_digits <= 20:
            raise ValueError(f"float_digits must be an int in 0..20, got {self.float_digits!r}")
