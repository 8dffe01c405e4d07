"""buckaroo-assets: exact, precomputed Buckaroo stats bundles, loaded in milliseconds.

Importing the package is cheap: submodules (and pandas, dagster) load only
when one of the names below is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

_EXPORTS = {
    "Bundle": "buckaroo_assets.bundle",
    "build_bundle": "buckaroo_assets.bundle",
    "StatsConfig": "buckaroo_assets.config",
    "data_id_for": "buckaroo_assets.identity",
    "validate_data_id": "buckaroo_assets.identity",
    "BuckarooAssetsError": "buckaroo_assets.errors",
    "UnsafeDataIdError": "buckaroo_assets.errors",
    "UnsupportedSourceError": "buckaroo_assets.errors",
    "UnsupportedColumnError": "buckaroo_assets.errors",
    "column_key": "buckaroo_assets.stats.columns",
}

__all__ = [
    "BuckarooAssetsError",
    "Bundle",
    "StatsConfig",
    "UnsafeDataIdError",
    "UnsupportedColumnError",
    "UnsupportedSourceError",
    "__version__",
    "build_bundle",
    "column_key",
    "data_id_for",
    "validate_data_id",
]

if TYPE_CHECKING:
    from .bundle import Bundle, build_bundle
    from .config import StatsConfig
    from .errors import (
        BuckarooAssetsError,
        UnsafeDataIdError,
        UnsupportedColumnError,
        UnsupportedSourceError,
    )
    from .identity import data_id_for, validate_data_id
    from .stats.columns import column_key


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'buckaroo_assets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
