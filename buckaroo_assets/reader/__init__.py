"""The reader layer: ``load_bundle`` and its bounded, coalescing, process-wide cache.

Imports the bundle layer and the store only: never the engine, the builder,
pandas or dagster, so an app pays for none of them.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "PrewarmReport": ".load",
    "aload_bundle": ".load",
    "cache_report": ".load",
    "clear_cache": ".load",
    "configure_cache": ".load",
    "load_bundle": ".load",
    "prewarm": ".load",
    "STORE_ENV": "..store.locate",
    "open_store": "..store.locate",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
