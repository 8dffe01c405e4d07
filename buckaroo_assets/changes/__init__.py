"""The changes layer: what changed between two versions of a dataset, from their bundles alone.

``diff(old, new)`` (``ba.diff``) gives a frozen :class:`BundleDiff` (schema,
rows, per-column stat changes, histogram distances, each marked exact or
sketched); :class:`DriftThresholds` says which changes cross a limit.  Imports
the bundle layer and the reader only: never the engine, the builder, pandas
or dagster.  See docs/diff.md.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "diff": ".compare",
    "RENAME_RULE": ".compare",
    "BundleDiff": ".bundle_diff",
    "DriftThresholds": ".thresholds",
    "previous_and_latest": ".history",
    "ColumnDiff": ".model",
    "Crossing": ".model",
    "SchemaDiff": ".model",
    "StatChange": ".model",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

