"""The store layer: bundles on any fsspec filesystem, committed manifest-last, verified on read.

Imports the bundle layer only: never the engine, the builder, the reader, the
viewer, pandas or dagster.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "BundleStore": ".bundle_store",
    "options_digest": ".bundle_store",
    "BundleEntry": ".entries",
    "Damage": ".entries",
    "GcReport": ".entries",
    "VerifyReport": ".entries",
    "DEFAULT_STORE": ".locate",
    "STORE_ENV": ".locate",
    "StoreChoice": ".locate",
    "choose_store": ".locate",
    "open_store": ".locate",
    "DEFAULT_GRACE": ".maintenance",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
