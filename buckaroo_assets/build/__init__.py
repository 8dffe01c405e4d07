"""The build layer: read a source, run the stats engine, derive data_ids, publish if missing.

Imports the engine, the bundle layer and the store; never the reader, the
viewer or dagster.  pandas and polars load only when a frame of theirs is given.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "BuildProgress": ".builder",
    "build_bundle": ".builder",
    "data_id_for": ".data_id",
    "PartialStats": ".partials",
    "build_partial": ".partials",
    "merge_partials": ".partials",
    "Published": ".publish",
    "ensure_bundle": ".publish",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
