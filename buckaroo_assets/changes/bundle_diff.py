"""``BundleDiff``: what changed between two versions of a dataset, and its renderings.

Made by :func:`buckaroo_assets.changes.compare.diff` from two bundles' stats
alone.  It is frozen and plain: ``to_json()`` for machines (a dataset's drift
check, a server route), ``to_text()`` / ``str()`` for terminals, ``to_html()``
for a standalone page.  Pass the crossings of
:meth:`buckaroo_assets.changes.thresholds.DriftThresholds.crossed` to the
renderings to list them too.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from . import render
from .model import ColumnDiff, Crossing, RowChange, SchemaDiff, SettingChange, Version, to_plain

__all__ = ["BundleDiff"]


@dataclass(frozen=True)
class BundleDiff:
    """Schema, row and per-column changes from the ``old`` bundle to the ``new`` one.

    ``columns`` has every column both versions have (renamed ones included),
    in the new version's order; ``settings`` the ``StatsConfig`` settings that
    differ when the bundles were built with different configs.
    """

    old: Version
    new: Version
    rows: RowChange
    schema: SchemaDiff
    columns: tuple[ColumnDiff, ...]
    settings: tuple[SettingChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        """No schema change, no row change, and every shared column's stats unchanged."""
        return not self.schema.changed and not self.rows.delta and not self.changed_columns

    @property
    def changed_columns(self) -> tuple[ColumnDiff, ...]:
        """The shared columns with a change, or with a stat only one version has."""
        return tuple(c for c in self.columns if c.changed)

    def column(self, name: Hashable) -> ColumnDiff:
        """The diff of the column labelled ``name`` in the new version (``KeyError`` if none)."""
        from ..bundle.model import same_label  # the model loads pyarrow: not for `--help`

        found = [c for c in self.columns if same_label(c.name, name)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} shared columns are labelled {name!r}")
        return found[0]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-safe dict; stat values and labels in the bundle codec's tagged forms."""
        return {**to_plain(self), "is_empty": self.is_empty}

    def to_text(self, crossings: Sequence[Crossing] = ()) -> str:
        """Tables for a terminal: only what changed, then the thresholds crossed, if given."""
        return render.as_text(self._sections(crossings))

    def to_html(self, crossings: Sequence[Crossing] = (), *, title: str | None = None) -> str:
        """A standalone HTML page (inline CSS, no JavaScript, every value escaped)."""
        heading = title or f"{self.old.data_id} -> {self.new.data_id}"
        return render.as_html(heading, self._sections(crossings))

    def __str__(self) -> str:
        return self.to_text()

    def _summary(self) -> str:
        if self.is_empty:
            return "none"
        parts = ["schema"] if self.schema.changed else []
        if self.rows.delta:
            parts.append("rows")
        if self.changed_columns:
            parts.append(f"{len(self.changed_columns)} of {len(self.columns)} shared columns")
        return ", ".join(parts)

    def _sections(self, crossings: Sequence[Crossing]) -> list[render.Section]:
        return [
            render.summary_section(self.old, self.new, self.rows, self._summary()),
            render.schema_section(self.schema),
            render.columns_section(self.columns),
            render.not_compared_section(self.columns),
            render.settings_section(self.settings),
            render.crossings_section(crossings),
        ]
