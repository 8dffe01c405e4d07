"""The bundle: everything a viewer's first render needs, computed once.

A bundle is keyed by ``(data_id, config_id)`` and holds exact per-column stats
(keyed by Buckaroo's column keys a, b, ... with the original label kept as
``orig_col_name``), the first window of rows in source order, the schema and
table meta. ``build_bundle`` (in :mod:`buckaroo_assets.build`) makes one in a
single streaming pass; :mod:`buckaroo_assets.store` keeps them.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from .config import StatsConfig


@dataclass(frozen=True, eq=False)
class Bundle:
    """Stats + first window + schema + meta of one dataset version under one config."""

    data_id: str
    config: StatsConfig
    stats: dict[str, dict[str, Any]]
    first_window: pa.Table
    meta: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    """The dataset it was asked for or published as; set when read from a store."""
    created_at: _dt.datetime | None = None
    """When the store committed it; set when read from a store."""
    partial: bool = False
    """True for the first window of a build still in progress (``load_bundle(allow_partial=True)``):
    its stats hold each column's label and types only, and ``rows`` is the source's row
    count if it knew it up front, else the rows of the window."""

    @property
    def config_id(self) -> str:
        return self.config.config_id

    @property
    def schema(self) -> pa.Schema:
        return self.first_window.schema

    @property
    def columns(self) -> list[tuple[str, Hashable]]:
        """(Buckaroo key, original label) for every column, in source order."""
        return [(key, entry["orig_col_name"]) for key, entry in self.stats.items()]

    def column_stats(self, orig_name: Hashable) -> dict[str, Any]:
        """Stats of the column labelled ``orig_name`` (ambiguous labels must use a key)."""
        keys = [key for key, label in self.columns if same_label(label, orig_name)]
        if not keys:
            raise KeyError(f"no column labelled {orig_name!r}")
        if len(keys) > 1:
            raise KeyError(
                f"{len(keys)} columns are labelled {orig_name!r} (keys {', '.join(keys)}); "
                "use bundle.stats[key]"
            )
        return self.stats[keys[0]]

    @property
    def rows(self) -> int:
        """Rows of the whole dataset (the window holds at most ``config.window_rows``)."""
        return int(self.meta.get("rows", self.first_window.num_rows))

    def window(self, start: int = 0, end: int | None = None) -> pa.Table:
        """Rows ``start:end`` of the dataset, clamped to what the stored first window holds.

        Rows past the window are not in the bundle; when part of the request
        lies there, the table's schema metadata says which rows are missing
        (``missing_rows``) so the caller can read them from the source.
        """
        if start < 0 or (end is not None and end < 0):
            raise ValueError(f"window rows must be >= 0, got start={start}, end={end}")
        end = self.rows if end is None else end
        held = self.first_window.num_rows
        lo, hi = min(start, held), max(min(end, held), min(start, held))
        table = self.first_window.slice(lo, hi - lo)
        missing = self.missing_rows(start, end)
        if missing:
            metadata = dict(table.schema.metadata or {})
            metadata[b"buckaroo_assets.missing_rows"] = f"{missing.start}:{missing.stop}".encode()
            table = table.replace_schema_metadata(metadata)
        return table

    def missing_rows(self, start: int, end: int) -> range:
        """Rows of ``start:end`` that exist in the dataset but lie past the stored window."""
        lo = max(start, self.first_window.num_rows)
        hi = min(end, self.rows)
        return range(lo, max(lo, hi))

    def stats_frame(self) -> Any:
        """The stats as a pandas DataFrame: one column per data column, one row per stat."""
        import pandas as pd

        order: dict[str, None] = dict.fromkeys(_STAT_ORDER)
        for entry in self.stats.values():
            order.update(dict.fromkeys(k for k in entry if k != "orig_col_name"))
        present = {k for entry in self.stats.values() for k in entry}
        order = {k: None for k in order if k in present}
        labels = [entry["orig_col_name"] for entry in self.stats.values()]
        columns = pd.Index(labels, dtype=object, tupleize_cols=False)
        data = {
            i: [entry.get(stat) for stat in order] for i, entry in enumerate(self.stats.values())
        }
        frame = pd.DataFrame(data, index=list(order), dtype=object)
        frame.columns = columns
        return frame

    def to_buckaroo_artifact(self, embed_type: str = "DFViewer", **display: Any) -> dict[str, Any]:
        """Buckaroo's static-embed artifact (``"DFViewer"`` or ``"Buckaroo"``), from this bundle alone.

        ``display`` takes the knobs of :class:`buckaroo_assets.artifact.Display`
        (``pinned_rows``, ``extra_pinned_rows``, ``column_config_overrides``,
        ``rows``, ``max_cell_chars``, ``float_digits``, ``locale``).
        """
        from ..viewer.artifact import Display, buckaroo_artifact

        return buckaroo_artifact(self, embed_type, Display(**display))

    def to_html(
        self,
        path: str | os.PathLike[str],
        embed_type: str = "DFViewer",
        *,
        self_contained: bool = True,
        title: str | None = None,
        **display: Any,
    ) -> Path:
        """Write a Buckaroo viewer page; needs ``buckaroo-assets[viewer]``.

        Self-contained pages inline the viewer and open from disk; otherwise
        ``static-embed.js``/``.css`` are copied beside the page, which then
        has to be served over HTTP (browsers refuse ES modules from files).
        """
        from ..viewer.page import VIEWER_FILES, bundle_page, viewer_file

        target = Path(path)
        page = bundle_page(
            self,
            embed_type,
            title=title,
            assets_url=None if self_contained else ".",
            **display,
        )
        if not self_contained:
            for file in VIEWER_FILES:
                shutil.copyfile(viewer_file(file), target.parent / file)
        target.write_text(page, encoding="utf-8")
        return target

    def __repr__(self) -> str:
        state = ", partial=True" if self.partial else ""
        return (
            f"Bundle(data_id={self.data_id!r}, config_id={self.config_id!r}, "
            f"rows={self.meta.get('rows')}, columns={len(self.stats)}{state})"
        )


_STAT_ORDER = (
    "dtype",
    "length",
    "null_count",
    "non_null_count",
    "distinct_count",
    "unique_count",
    "empty_count",
    "min",
    "max",
    "mean",
    "std",
    "median",
    "sum",
    "most_freq",
    "2nd_freq",
    "3rd_freq",
    "4th_freq",
    "5th_freq",
    "histogram",
    "histogram_bins",
)


def same_label(a: Hashable, b: Hashable) -> bool:
    """Equal labels of the same type: 1, 1.0 and True stay three labels.

    A subclass counts as its base outside numbers, so a pandas ``Timestamp``
    finds the ``datetime`` a bundle stores for it.
    """
    if type(a) is type(b):
        return a == b
    if isinstance(a, int | float | complex) or isinstance(b, int | float | complex):
        return False
    return (isinstance(a, type(b)) or isinstance(b, type(a))) and a == b
