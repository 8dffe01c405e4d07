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
    "build_bundle": "buckaroo_assets.build",
    "StatsConfig": "buckaroo_assets.config",
    "data_id_for": "buckaroo_assets.identity",
    "validate_data_id": "buckaroo_assets.identity",
    "BuckarooAssetsError": "buckaroo_assets.errors",
    "UnsafeDataIdError": "buckaroo_assets.errors",
    "UnsupportedSourceError": "buckaroo_assets.errors",
    "UnsupportedColumnError": "buckaroo_assets.errors",
    "column_key": "buckaroo_assets.stats.columns",
    "BundleStore": "buckaroo_assets.store",
    "load_bundle": "buckaroo_assets.reader",
    "aload_bundle": "buckaroo_assets.reader",
    "prewarm": "buckaroo_assets.reader",
    "cache_report": "buckaroo_assets.reader",
    "clear_cache": "buckaroo_assets.reader",
    "configure_cache": "buckaroo_assets.reader",
    "BundleError": "buckaroo_assets.errors",
    "BundleNotFound": "buckaroo_assets.errors",
    "BundleMismatch": "buckaroo_assets.errors",
    "BundleCorrupted": "buckaroo_assets.errors",
    "BundleLoadTimeout": "buckaroo_assets.errors",
}

__all__ = [
    "BuckarooAssetsError",
    "Bundle",
    "BundleCorrupted",
    "BundleError",
    "BundleLoadTimeout",
    "BundleMismatch",
    "BundleNotFound",
    "BundleStore",
    "StatsConfig",
    "UnsafeDataIdError",
    "UnsupportedColumnError",
    "UnsupportedSourceError",
    "__version__",
    "aload_bundle",
    "build_bundle",
    "cache_report",
    "clear_cache",
    "column_key",
    "configure_cache",
    "data_id_for",
    "load_bundle",
    "prewarm",
    "validate_data_id",
]

if TYPE_CHECKING:
    from .build import build_bundle
    from .bundle import Bundle
    from .config import StatsConfig
    from .errors import (
        BuckarooAssetsError,
        BundleCorrupted,
        BundleError,
        BundleLoadTimeout,
        BundleMismatch,
        BundleNotFound,
        UnsafeDataIdError,
        UnsupportedColumnError,
        UnsupportedSourceError,
    )
    from .identity import data_id_for, validate_data_id
    from .reader import (
        aload_bundle,
        cache_report,
        clear_cache,
        configure_cache,
        load_bundle,
        prewarm,
    )
    from .stats.columns import column_key
    from .store import BundleStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'buckaroo_assets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
