"""The viewer layer: Buckaroo static-embed artifacts, self-contained pages and a read-only server.

Imports the bundle layer, the store and the reader; never the engine, the
builder, pandas or dagster.  Buckaroo's own files are read from its installed
package, never imported.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "Display": ".artifact",
    "buckaroo_artifact": ".artifact",
    "render_page": ".page",
    "BundleServer": ".server",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
