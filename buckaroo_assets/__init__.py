"""buckaroo-assets: exact, precomputed Buckaroo stats bundles, loaded in milliseconds.

Importing the package is cheap: submodules (and pandas, dagster) load only
when one of the names below is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from .version import __version__

_EXPORTS = {
    "Bundle": "buckaroo_assets.bundle.model",
    "build_bundle": "buckaroo_assets.build.builder",
    "build_partial": "buckaroo_assets.build.partials",
    "merge_partials": "buckaroo_assets.build.partials",
    "PartialStats": "buckaroo_assets.build.partials",
    "PartialStatsError": "buckaroo_assets.errors",
    "StatsConfig": "buckaroo_assets.bundle.config",
    "data_id_for": "buckaroo_assets.build.data_id",
    "validate_data_id": "buckaroo_assets.bundle.ids",
    "BuckarooAssetsError": "buckaroo_assets.errors",
    "UnsafeDataIdError": "buckaroo_assets.errors",
    "UnsupportedSourceError": "buckaroo_assets.errors",
    "UnreadableSourceError": "buckaroo_assets.errors",
    "UnsupportedColumnError": "buckaroo_assets.errors",
    "column_key": "buckaroo_assets.bundle.columns",
    "BundleStore": "buckaroo_assets.store.bundle_store",
    "load_bundle": "buckaroo_assets.reader.load",
    "aload_bundle": "buckaroo_assets.reader.load",
    "prewarm": "buckaroo_assets.reader.load",
    "cache_report": "buckaroo_assets.reader.load",
    "clear_cache": "buckaroo_assets.reader.load",
    "configure_cache": "buckaroo_assets.reader.load",
    "BundleError": "buckaroo_assets.errors",
    "BundleNotFound": "buckaroo_assets.errors",
    "BundleMismatch": "buckaroo_assets.errors",
    "BundleCorrupted": "buckaroo_assets.errors",
    "BundleLoadTimeout": "buckaroo_assets.errors",
    "StoreUnavailable": "buckaroo_assets.errors",
    "diff": "buckaroo_assets.changes.compare",
    "BundleDiff": "buckaroo_assets.changes.bundle_diff",
    "DriftThresholds": "buckaroo_assets.changes.thresholds",
}

__all__ = [
    "BuckarooAssetsError",
    "Bundle",
    "BundleCorrupted",
    "BundleDiff",
    "BundleError",
    "BundleLoadTimeout",
    "BundleMismatch",
    "BundleNotFound",
    "BundleStore",
    "DriftThresholds",
    "PartialStats",
    "PartialStatsError",
    "StatsConfig",
    "StoreUnavailable",
    "UnreadableSourceError",
    "UnsafeDataIdError",
    "UnsupportedColumnError",
    "UnsupportedSourceError",
    "__version__",
    "aload_bundle",
    "build_bundle",
    "build_partial",
    "cache_report",
    "clear_cache",
    "column_key",
    "configure_cache",
    "data_id_for",
    "diff",
    "load_bundle",
    "merge_partials",
    "prewarm",
    "validate_data_id",
]

if TYPE_CHECKING:
    from .build.builder import build_bundle
    from .build.data_id import data_id_for
    from .build.partials import PartialStats, build_partial, merge_partials
    from .bundle.columns import column_key
    from .bundle.config import StatsConfig
    from .bundle.ids import validate_data_id
    from .bundle.model import Bundle
    from .changes.bundle_diff import BundleDiff
    from .changes.compare import diff
    from .changes.thresholds import DriftThresholds
    from .errors import (
        BuckarooAssetsError,
        BundleCorrupted,
        BundleError,
        BundleLoadTimeout,
        BundleMismatch,
        BundleNotFound,
        PartialStatsError,
        StoreUnavailable,
        UnreadableSourceError,
        UnsafeDataIdError,
        UnsupportedColumnError,
        UnsupportedSourceError,
    )
    from .reader.load import (
        aload_bundle,
        cache_report,
        clear_cache,
        configure_cache,
        load_bundle,
        prewarm,
    )
    from .store.bundle_store import BundleStore


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
