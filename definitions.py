"""Example Dagster code location: three example datasets and their Buckaroo bundles.

Run ``dagster dev`` from the repository root (``workspace.yaml``/``pyproject``
are not needed: ``dagster dev -f definitions.py``).  The example datasets are
generated locally on first use under ``.buckaroo/data``; bundles go to
``$BUCKAROO_STORE_URL``, else ``.buckaroo/store``.
"""

import os
from pathlib import Path

from buckaroo_assets.build.example_data import example_paths
from buckaroo_assets.dagster import BundleStoreResource, Dataset, buckaroo_definitions

PROJECT = Path(__file__).resolve().parent / ".buckaroo"
STORE_URL = os.environ.get("BUCKAROO_STORE_URL") or (PROJECT / "store").as_uri()

datasets = [
    Dataset(name, str(path), description=f"Example dataset {name} (generated locally)")
    for name, path in example_paths(PROJECT / "data").items()
]

defs = buckaroo_definitions(
    datasets,
    store=BundleStoreResource(url=STORE_URL),
    prewarm_cron="0 3 * * *",
    sensor_interval_seconds=60,
)
