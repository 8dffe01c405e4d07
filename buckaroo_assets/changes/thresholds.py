"""Drift thresholds: which changes between two versions are worth stopping for.

``DriftThresholds().crossed(diff)`` lists every limit a :class:`BundleDiff`
goes past, each with a message for people; an empty list means none.  A
check is off when its limit is None (``schema_change=False``).  A value is
crossed when it is strictly above its limit, so a limit of 0 means "any".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .bundle_diff import BundleDiff
from .model import Crossing
from .render import label

__all__ = ["DriftThresholds"]


@dataclass(frozen=True)
class DriftThresholds:
    """Limits on the changes between two versions; the defaults suit a daily data feed.

    - ``rows_drop_pct`` (10): the row count fell by more than this percent;
    - ``null_jump_pts`` (5): a column's null rate rose by more than this many
      percentage points;
    - ``schema_change`` (True): any column added, removed, retyped, renamed
      or reordered;
    - ``distance`` (0.2): a column's Jensen–Shannon histogram distance (0 to 1)
      is above this; two samples of one distribution stay well below it, a mean
      shift of half a standard deviation goes past it (docs/diff.md).
    """

    rows_drop_pct: float | None = 10.0
    null_jump_pts: float | None = 5.0
    schema_change: bool = True
    distance: float | None = 0.2

    def __post_init__(self) -> None:
        for name in ("rows_drop_pct", "null_jump_pts", "distance"):
            limit = getattr(self, name)
            if limit is None:
                continue
            if isinstance(limit, bool) or not isinstance(limit, int | float) or not (
                math.isfinite(limit) and limit >= 0
            ):
                raise ValueError(f"{name} must be a number >= 0 or None, got {limit!r}")
        if self.distance is not None and self.distance > 1:
            raise ValueError(f"distance is between 0 and 1, got {self.distance}")

    @classmethod
    def only(cls, **limits: Any) -> DriftThresholds:
        """These checks and no others: ``DriftThresholds.only(distance=0.1)``."""
        off: dict[str, Any] = {f.name: None for f in dataclasses.fields(cls)}
        return cls(**{**off, "schema_change": False, **limits})

    def crossed(self, diff: BundleDiff) -> list[Crossing]:
        """Every limit ``diff`` crosses: rows first, then schema, nulls, distances."""
        found: list[Crossing] = []
        rows = diff.rows
        pct = rows.pct_change
        if self.rows_drop_pct is not None and pct is not None and -pct > self.rows_drop_pct:
            found.append(Crossing(
                "rows_drop",
                f"rows fell {rows.old:,} -> {rows.new:,} ({pct:.1f} %), "
                f"more than {self.rows_drop_pct:g} %",
                None, -pct, self.rows_drop_pct,
            ))  # fmt: skip
        if self.schema_change:
            found.extend(_schema_crossings(diff))
        for column in diff.columns:
            null, distance = column.null_pct, column.distance
            name = label(column.name)
            if self.null_jump_pts is not None and null is not None and null.delta > self.null_jump_pts:
                found.append(Crossing(
                    "null_jump",
                    f"column {name}: nulls rose {null.old:.3g} % -> {null.new:.3g} % "
                    f"(+{null.delta:.3g} points), more than {self.null_jump_pts:g}",
                    column.name, null.delta, self.null_jump_pts,
                ))  # fmt: skip
            if self.distance is not None and distance is not None and distance.value > self.distance:
                found.append(Crossing(
                    "distance",
                    f"column {name}: histogram distance {distance.value:.3f} ({distance.basis}) "
                    f"is above {self.distance:g}",
                    column.name, distance.value, self.distance, distance.exact,
                ))  # fmt: skip
        return found


def _schema_crossings(diff: BundleDiff) -> list[Crossing]:
    schema = diff.schema
    found = [Crossing("schema", f"column {label(c.name)} added ({c.dtype})", c.name)
             for c in schema.added]
    found += [Crossing("schema", f"column {label(c.name)} removed ({c.dtype})", c.name)
              for c in schema.removed]
    found += [Crossing("schema", f"column {label(r.name)} retyped {r.old_dtype} -> {r.new_dtype}",
                       r.name) for r in schema.retyped]
    found += [Crossing("schema", f"column {label(r.old_name)} renamed to {label(r.new_name)}",
                       r.new_name) for r in schema.renamed]
    if schema.reordered:
        found.append(Crossing("schema", "columns reordered", None))
    return found
