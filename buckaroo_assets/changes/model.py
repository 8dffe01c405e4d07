"""The values a bundle diff is made of: plain, frozen, and JSON-safe through :func:`to_plain`.

Every value computed from stats says whether it is ``exact``: true when none
of the stats it comes from is listed in either column's ``approximate`` (the
stats a sketch produced past ``distinct_threshold``, see docs/stats.md).
Counts, null rates, min, max, mean and std never come from sketches.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..bundle import codec

__all__ = [
    "ColumnDiff",
    "ColumnRef",
    "Crossing",
    "Distance",
    "NotCompared",
    "Renamed",
    "Retyped",
    "RowChange",
    "SchemaDiff",
    "SettingChange",
    "StatChange",
    "TopValues",
    "Version",
    "to_plain",
]

# Field metadata: a label is one value, even when it is a tuple (a MultiIndex column).
_LABEL: dict[str, Any] = {"label": True}


def label_field() -> Any:
    """A dataclass field holding a column label, which :func:`to_plain` encodes whole."""
    return field(metadata=_LABEL)


def to_plain(obj: Any) -> Any:
    """Plain JSON of a diff value: dataclasses become dicts, tuples lists.

    A dataclass adds the derived values its class lists in ``JSON_PROPERTIES``.
    Stat values and labels use the bundle codec's tagged forms (plain JSON
    stays plain; a ``Decimal`` becomes ``{"$decimal": "1.5"}``, a tuple label
    ``{"$tuple": [...]}``), so nothing is lost and ``codec.decode`` reads them back.
    """
    kind = type(obj)
    if kind in _PLAIN or (kind is float and math.isfinite(obj)) or (
        kind is int and -_SAFE_INT <= obj <= _SAFE_INT
    ):
        return obj
    if kind is tuple or kind is list:
        return [to_plain(item) for item in obj]
    if not dataclasses.is_dataclass(kind):
        return codec.encode(obj)
    plain = {
        name: codec.encode(getattr(obj, name)) if is_label else to_plain(getattr(obj, name))
        for name, is_label in _json_fields(kind)
    }
    for name in getattr(kind, "JSON_PROPERTIES", ()):
        plain[name] = to_plain(getattr(obj, name))
    return plain


_PLAIN = frozenset({str, bool, type(None)})
_SAFE_INT = 2**53  # the codec tags larger ints: JavaScript readers would lose their digits


@functools.cache
def _json_fields(kind: type) -> tuple[tuple[str, bool], ...]:
    return tuple((f.name, bool(f.metadata.get("label"))) for f in dataclasses.fields(kind))


@dataclass(frozen=True)
class Version:
    """One side of a diff: which bundle, and the size of its table."""

    data_id: str
    config_id: str
    rows: int
    columns: int


@dataclass(frozen=True)
class SettingChange:
    """A ``StatsConfig`` setting that differs between the two bundles' configs."""

    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class RowChange:
    """Rows of the whole table in each version (exact: from the bundles' meta)."""

    old: int
    new: int

    JSON_PROPERTIES: ClassVar[tuple[str, ...]] = ("delta", "pct_change")

    @property
    def delta(self) -> int:
        return self.new - self.old

    @property
    def pct_change(self) -> float | None:
        """``100 * (new - old) / old``; None when the old version had no rows."""
        return 100 * self.delta / self.old if self.old else None


@dataclass(frozen=True)
class ColumnRef:
    """A column of one version: its label, Buckaroo key, position and dtype."""

    name: Hashable = label_field()
    key: str
    position: int
    dtype: str


@dataclass(frozen=True)
class Retyped:
    """A column present in both versions whose dtype or Arrow type changed."""

    name: Hashable = label_field()
    old_dtype: str
    new_dtype: str
    old_arrow_type: str
    new_arrow_type: str


@dataclass(frozen=True)
class Renamed:
    """A column at the same position under a new label, same type, near-identical stats.

    The rule is :data:`buckaroo_assets.changes.compare.RENAME_RULE`; the pair's
    stats changes are in the diff's ``columns`` like any other column's.
    """

    position: int
    old_name: Hashable = label_field()
    new_name: Hashable = label_field()
    dtype: str


@dataclass(frozen=True)
class SchemaDiff:
    """Columns added, removed, retyped or renamed, and whether the shared ones moved."""

    added: tuple[ColumnRef, ...] = ()
    removed: tuple[ColumnRef, ...] = ()
    retyped: tuple[Retyped, ...] = ()
    renamed: tuple[Renamed, ...] = ()
    reordered: bool = False
    """The columns in both versions appear in another relative order."""

    JSON_PROPERTIES: ClassVar[tuple[str, ...]] = ("changed",)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped or self.renamed or self.reordered)


@dataclass(frozen=True)
class StatChange:
    """One stat of one column in both versions.

    ``delta`` is ``new - old`` for numbers (an int, float or Decimal; None when
    either is NaN or infinite) and for datetimes, dates and durations (a
    ``timedelta``); None otherwise.  ``in_std`` (mean only) is the delta in
    units of the old standard deviation, when that exists and is > 0.
    """

    old: Any
    new: Any
    delta: Any
    changed: bool
    exact: bool
    in_std: float | None = None


@dataclass(frozen=True)
class TopValues:
    """Values that entered or left the most frequent values the stats hold.

    Only values proven to repeat take part: when every value of a column
    occurs once, its "most frequent" values are just its smallest ones.
    """

    new: tuple[Any, ...]
    vanished: tuple[Any, ...]
    exact: bool

    @property
    def changed(self) -> bool:
        return bool(self.new or self.vanished)


@dataclass(frozen=True)
class Distance:
    """Jensen–Shannon distance (base 2, in [0, 1]) between the two histograms.

    ``basis`` is ``"bins"`` for numeric histograms, rebinned onto the union of
    both versions' bin edges, or ``"labels"`` for categorical ones, matched by
    label; both over non-null values only (see docs/diff.md).
    """

    value: float
    basis: str
    exact: bool

    @property
    def changed(self) -> bool:
        return self.value > 0


@dataclass(frozen=True)
class NotCompared:
    """A stat one version has and the other lacks, and why."""

    stat: str
    reason: str


@dataclass(frozen=True)
class ColumnDiff:
    """How one column present in both versions changed.

    A field is None when the stat applies to neither version (no mean for
    text); when only one version has it, ``not_compared`` says so instead.
    ``null_pct`` is the null rate in percent, so its delta is in points.
    """

    name: Hashable = label_field()
    old_name: Hashable = label_field()
    old_key: str
    new_key: str
    old_dtype: str
    new_dtype: str
    null_pct: StatChange | None = None
    distinct_count: StatChange | None = None
    min: StatChange | None = None
    max: StatChange | None = None
    mean: StatChange | None = None
    std: StatChange | None = None
    top_values: TopValues | None = None
    distance: Distance | None = None
    not_compared: tuple[NotCompared, ...] = ()

    JSON_PROPERTIES: ClassVar[tuple[str, ...]] = ("changed",)

    def stat_changes(self) -> tuple[tuple[str, StatChange], ...]:
        """(stat, change) for every stat compared, in a fixed order."""
        named = (
            ("null_pct", self.null_pct), ("distinct_count", self.distinct_count),
            ("min", self.min), ("max", self.max), ("mean", self.mean), ("std", self.std),
        )  # fmt: skip
        return tuple((name, change) for name, change in named if change is not None)

    @property
    def changed(self) -> bool:
        """Anything changed, or could not be compared."""
        parts = [change for _, change in self.stat_changes()] + [self.top_values, self.distance]
        return any(p is not None and p.changed for p in parts) or bool(self.not_compared)


@dataclass(frozen=True)
class Crossing:
    """One drift threshold a diff crossed, with a message for people.

    ``check`` is ``rows_drop``, ``null_jump``, ``schema`` or ``distance``;
    ``column`` is None for table-wide checks; ``exact`` is False when the
    value came from sketched stats.
    """

    check: str
    message: str
    column: Hashable = label_field()
    value: Any = None
    limit: Any = None
    exact: bool = True

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-safe dict, for check metadata and ``--json``."""
        return to_plain(self)

    def __str__(self) -> str:
        return self.message
