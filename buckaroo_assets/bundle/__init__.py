"""The bundle layer: the bundle model, its lossless codec, the stats config and id rules.

Imports nothing of the package but ``errors`` and ``version``; every other
layer builds on it.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "Bundle": ".model",
    "same_label": ".model",
    "StatsConfig": ".config",
    "column_key": ".columns",
    "validate_config_id": ".ids",
    "validate_data_id": ".ids",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
