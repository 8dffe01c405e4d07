"""Dagster integration: bundles as software-defined assets (the only module importing dagster).

``buckaroo_definitions`` wires everything; the factories it uses are public
for code locations that want to assemble their own. ``buckaroo_dask_executor``
needs the optional dagster-dask (the ``dask`` extra): it loads on first use and
is left out of ``__all__``, so importing this package never needs it.
"""

from .._lazy import lazy_exports
from .automation import new_versions_sensor, prewarm_schedule
from .checks import bundle_checks, evaluate_bundle, partitioned_bundle_checks
from .chunks import chunk_keys, dataset_chunk_assets
from .component import BuckarooBundles
from .datasets import Dataset, dataset_bundle_assets, dataset_keys
from .definitions import buckaroo_definitions
from .drift import DriftCheck
from .fragments import FragmentedDataset, fragmented_bundle_assets, partitions_bundle_asset
from .frames import frame_bundle_asset
from .resource import BundleStoreResource, default_store_url

__all__ = [
    "BuckarooBundles",
    "BundleStoreResource",
    "Dataset",
    "DriftCheck",
    "FragmentedDataset",
    "buckaroo_definitions",
    "bundle_checks",
    "chunk_keys",
    "dataset_chunk_assets",
    "dataset_bundle_assets",
    "dataset_keys",
    "default_store_url",
    "evaluate_bundle",
    "fragmented_bundle_assets",
    "frame_bundle_asset",
    "new_versions_sensor",
    "partitioned_bundle_checks",
    "partitions_bundle_asset",
    "prewarm_schedule",
]
__getattr__, _ = lazy_exports(__name__, {"buckaroo_dask_executor": ".dask_executor"})
