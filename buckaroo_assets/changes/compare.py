"""``diff(old, new)``: what changed between two versions, computed from their bundles alone.

Nothing is read but the two bundles (given, or loaded with ``load_bundle``),
so a diff of two 500-column versions takes milliseconds whatever their rows.

Columns are matched by label (the k-th column labelled ``x`` in the old
version with the k-th labelled ``x`` in the new one).  Of the rest, a removed
and an added column at the same position are one renamed column when they
pass :data:`RENAME_RULE`.  Every column both versions have is compared stat
by stat; a stat only one version holds (a skipped column, a type change) is
listed as not compared rather than failing.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..bundle import codec
from ..bundle.config import StatsConfig
from ..bundle.model import Bundle
from ..reader.load import load_bundle
from .bundle_diff import BundleDiff
from .distance import is_number, shape_distance, shape_of
from .model import (
    ColumnDiff,
    ColumnRef,
    Distance,
    NotCompared,
    Renamed,
    Retyped,
    RowChange,
    SchemaDiff,
    SettingChange,
    StatChange,
    TopValues,
    Version,
)

if TYPE_CHECKING:
    from ..store.bundle_store import BundleStore

__all__ = ["RENAME_RULE", "diff"]


@dataclass(frozen=True)
class RenameRule:
    """When a removed and an added column at the same position are one renamed column.

    Both have the same dtype and Arrow type, and, for each of these the two
    columns' stats allow: null rates within ``null_points`` percentage points,
    distinct counts within ``distinct_share`` of the larger one, histogram
    distance at most ``distance``, and (numbers with a std > 0) means within
    ``mean_stds`` old standard deviations.  :meth:`matches` checks the stats
    of a pair whose types already agree.
    """

    null_points: float = 1.0
    distinct_share: float = 0.1
    distance: float = 0.15
    mean_stds: float = 0.1

    def matches(self, column: ColumnDiff) -> bool:
        """Whether the compared pair's stats are close enough to be one column."""
        null, distinct = column.null_pct, column.distinct_count
        if null is not None and abs(null.delta) > self.null_points:
            return False
        if distinct is not None and abs(distinct.delta) > self.distinct_share * max(
            distinct.old, distinct.new
        ):
            return False
        if column.distance is not None and column.distance.value > self.distance:
            return False
        shift = column.mean.in_std if column.mean is not None else None
        return shift is None or abs(shift) <= self.mean_stds


RENAME_RULE = RenameRule()


def diff(
    old: Bundle | str,
    new: Bundle | str,
    *,
    store: BundleStore | str | os.PathLike[str] | None = None,
    config: StatsConfig | str | None = None,
) -> BundleDiff:
    """What changed from ``old`` to ``new``: schema, rows and every shared column's stats.

    Each of ``old`` and ``new`` is a :class:`Bundle` or a data_id, loaded with
    ``load_bundle(data_id, store=store, config=config)`` (so the store rule
    and the reader's cache apply; without ``config``, each data_id's last
    published config).  The two bundles may come from different configs:
    stats both hold are compared, the rest is reported as not compared.
    Loading raises what ``load_bundle`` raises (``BundleNotFound``, ...).
    """
    before, after = (_as_bundle(b, store, config) for b in (old, new))
    return _compare(before, after)


def _as_bundle(
    item: Bundle | str,
    store: BundleStore | str | os.PathLike[str] | None,
    config: StatsConfig | str | None,
) -> Bundle:
    if isinstance(item, Bundle):
        return item
    if isinstance(item, str):
        return load_bundle(item, store=store, config=config)
    raise TypeError(f"diff() compares Bundles or data_ids, not {type(item).__qualname__}")


@dataclass(frozen=True)
class _Column:
    position: int
    key: str
    label: Hashable
    stats: Mapping[str, Any]

    @property
    def ref(self) -> ColumnRef:
        return ColumnRef(self.label, self.key, self.position, str(self.stats.get("dtype")))


def _compare(old: Bundle, new: Bundle) -> BundleDiff:
    olds, news = _by_label(old), _by_label(new)
    pairs = [(olds[k], col) for k, col in news.items() if k in olds]
    removed = {col.position: col for k, col in olds.items() if k not in news}
    added = [col for k, col in news.items() if k not in olds]
    compared = {n.position: _column_diff(o, n) for o, n in pairs}  # by position in new
    renamed = []
    for col in added:
        gone = removed.get(col.position)
        if gone is None or not _same_types(gone, col):
            continue
        candidate = _column_diff(gone, col)
        if RENAME_RULE.matches(candidate):
            del removed[col.position]
            pairs.append((gone, col))
            compared[col.position] = candidate
            renamed.append(Renamed(col.position, gone.label, col.label, candidate.new_dtype))
    pairs.sort(key=lambda pair: pair[1].position)
    old_order = [o.position for o, _ in pairs]
    renamed_at = {r.position for r in renamed}
    schema = SchemaDiff(
        added=tuple(c.ref for c in added if c.position not in renamed_at),
        removed=tuple(c.ref for c in sorted(removed.values(), key=lambda c: c.position)),
        retyped=tuple(_retyped(o, n) for o, n in pairs if not _same_types(o, n)),
        renamed=tuple(renamed),
        reordered=old_order != sorted(old_order),
    )
    return BundleDiff(
        old=_version(old),
        new=_version(new),
        rows=RowChange(old.rows, new.rows),
        schema=schema,
        columns=tuple(compared[n.position] for _, n in pairs),
        settings=_settings(old.config, new.config),
    )


def _by_label(bundle: Bundle) -> dict[tuple[bytes, int], _Column]:
    """Columns keyed by (encoded label, occurrence), so duplicate labels pair up in order."""
    seen: dict[bytes, int] = {}
    out = {}
    for position, (key, entry) in enumerate(bundle.stats.items()):
        encoded = codec.dumps(entry["orig_col_name"])
        seen[encoded] = seen.get(encoded, -1) + 1
        out[(encoded, seen[encoded])] = _Column(position, key, entry["orig_col_name"], entry)
    return out


def _version(bundle: Bundle) -> Version:
    return Version(bundle.data_id, bundle.config_id, bundle.rows, len(bundle.stats))


def _same_types(a: _Column, b: _Column) -> bool:
    return all(a.stats.get(k) == b.stats.get(k) for k in ("dtype", "arrow_type"))


def _retyped(old: _Column, new: _Column) -> Retyped:
    return Retyped(
        new.label, str(old.stats.get("dtype")), str(new.stats.get("dtype")),
        str(old.stats.get("arrow_type")), str(new.stats.get("arrow_type")),
    )  # fmt: skip


def _settings(old: StatsConfig, new: StatsConfig) -> tuple[SettingChange, ...]:
    before, after = old.to_dict(), new.to_dict()
    return tuple(
        SettingChange(name, _frozen(before.get(name)), _frozen(after.get(name)))
        for name in after
        if before.get(name) != after.get(name)
    )


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# ---------------------------------------------------------------------------- one column


class _Pairs:
    """Reads one stat from both columns' entries, noting what only one of them holds."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.old, self.new = old, new
        self.sketched = {*old.get("approximate", ()), *new.get("approximate", ())}
        self.missing: list[NotCompared] = []

    def get(self, stat: str, shown: str | None = None) -> tuple[Any, Any] | None:
        a, b = self.old.get(stat), self.new.get(stat)
        if a is None and b is None:
            return None
        if a is None or b is None:
            self.lacking(shown or stat, "old" if a is None else "new", f"no {shown or stat}")
            return None
        return a, b

    def lacking(self, stat: str, side: str, what: str) -> None:
        entry = self.old if side == "old" else self.new
        why = "column skipped" if entry.get("skipped") else f"{entry.get('dtype')} column"
        self.missing.append(NotCompared(stat, f"{what} in the {side} version ({why})"))

    def exact(self, *stats: str) -> bool:
        return not self.sketched.intersection(stats)

    def change(self, stat: str, scale: Any = None) -> StatChange | None:
        pair = self.get(stat)
        if pair is None:
            return None
        return _stat_change(*pair, exact=self.exact(stat), scale=scale)


def _column_diff(old: _Column, new: _Column) -> ColumnDiff:
    stats = _Pairs(old.stats, new.stats)
    return ColumnDiff(
        name=new.label,
        old_name=old.label,
        old_key=old.key,
        new_key=new.key,
        old_dtype=str(old.stats.get("dtype")),
        new_dtype=str(new.stats.get("dtype")),
        null_pct=_null_pct(stats),
        distinct_count=stats.change("distinct_count"),
        min=stats.change("min"),
        max=stats.change("max"),
        mean=stats.change("mean", scale=old.stats.get("std")),
        std=stats.change("std"),
        top_values=_top_values(stats),
        distance=_distance(stats),
        not_compared=tuple(stats.missing),
    )


def _null_pct(stats: _Pairs) -> StatChange | None:
    lengths = stats.get("length")
    if lengths is None or lengths == (0, 0):
        return None
    if 0 in lengths:
        stats.lacking("null_pct", "old" if lengths[0] == 0 else "new", "no rows")
        return None
    nulls = stats.get("null_count", "null_pct")
    if nulls is None:
        return None
    (old_len, new_len), (old_nulls, new_nulls) = lengths, nulls
    return _stat_change(100 * old_nulls / old_len, 100 * new_nulls / new_len, exact=True)


def _top_values(stats: _Pairs) -> TopValues | None:
    """Most frequent values (only those proven to repeat) entering and leaving the top k."""
    keys = [_frequency_keys(tuple(entry)) for entry in (stats.old, stats.new)]
    depth = min(len(k) for k in keys)
    if stats.get("distinct_count", "top values") is None:
        return None
    old_top, new_top = (_repeated(entry, k[:depth]) for entry, k in zip(
        (stats.old, stats.new), keys, strict=True))  # fmt: skip
    old_ids = {_value_key(v) for v in old_top}
    new_ids = {_value_key(v) for v in new_top}
    return TopValues(
        new=tuple(v for v in new_top if _value_key(v) not in old_ids),
        vanished=tuple(v for v in old_top if _value_key(v) not in new_ids),
        exact=stats.exact(*keys[0][:depth], *keys[1][:depth]),
    )


def _value_key(value: Any) -> tuple[Any, Any]:
    """Numbers by value (3 and 3.0 after a retype are one value), anything else by type too."""
    return ("number", value) if is_number(value) else (type(value), value)


@functools.cache
def _frequency_keys(stat_names: tuple[str, ...]) -> tuple[str, ...]:
    """most_freq, 2nd_freq, ... among an entry's stat names, in rank order."""
    ranked = {1 if k == "most_freq" else int(k[:-7]): k for k in stat_names if k.endswith("_freq")}
    return tuple(ranked[rank] for rank in sorted(ranked))


def _repeated(entry: Mapping[str, Any], keys: list[str]) -> list[Any]:
    """The top values that occur more than once (all a sketch reports; exact counts say how many)."""
    values = [entry[k] for k in keys if entry.get(k) is not None]
    unique = entry.get("unique_count")
    return values if unique is None else values[: entry["distinct_count"] - unique]


def _distance(stats: _Pairs) -> Distance | None:
    try:
        old, new = shape_of(stats.old), shape_of(stats.new)
        if old is None and new is None:
            return None
        if old is None or new is None:
            stats.lacking("distance", "old" if old is None else "new", "no histogram of values")
            return None
        return Distance(shape_distance(old, new), old.basis, stats.exact("histogram"))
    except ValueError as exc:
        stats.missing.append(NotCompared("distance", str(exc)))
        return None


# ---------------------------------------------------------------------------- values


def _stat_change(old: Any, new: Any, *, exact: bool, scale: Any = None) -> StatChange:
    delta = _delta(old, new)
    in_std = None
    if delta is not None and is_number(scale) and math.isfinite(scale) and scale > 0:
        in_std = float(delta) / float(scale)
    return StatChange(old, new, delta, not _same(old, new), exact, in_std)


def _finite(value: Any) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _delta(old: Any, new: Any) -> Any:
    """``new - old`` for numbers and for dates, times and durations; None otherwise."""
    if is_number(old) and is_number(new):
        if not (_finite(old) and _finite(new)):
            return None
        if isinstance(old, float) or isinstance(new, float):
            return float(new) - float(old)
        return new - old
    temporal = _dt.datetime | _dt.date | _dt.timedelta
    if type(old) is type(new) and isinstance(old, temporal):
        try:
            return new - old
        except TypeError:  # one aware, one naive datetime
            return None
    return None


def _same(old: Any, new: Any) -> bool:
    """Equal values; numbers by value (1 == 1.0 after a retype), NaN equal to NaN."""
    if is_number(old) and is_number(new):
        return bool(old == new) or (old != old and new != new)
    return type(old) is type(new) and bool(old == new)
