"""Example Dagster code location: one bundle asset per example dataset.

Run ``dagster dev -f definitions.py`` from the repository root. The example
datasets are generated locally on first use; no network is needed.
"""

from pathlib import Path

import dagster as dg

from buckaroo_assets.build import build_bundle
from buckaroo_assets.examples import EXAMPLE_ROWS, example_paths

EXAMPLE_DATA = Path(__file__).parent / "example_data"


def _bundle_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(name=f"{name}_bundle", group_name="buckaroo_bundles", kinds={"parquet"})
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        bundle = build_bundle(example_paths(EXAMPLE_DATA)[name])
        context.log.info(f"built {bundle!r}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": bundle.meta["rows"],
                "data_id": bundle.data_id,
                "config_id": bundle.config_id,
                "build_seconds": bundle.meta["build_seconds"],
            },
            data_version=dg.DataVersion(bundle.data_id),
        )

    return _asset


defs = dg.Definitions(assets=[_bundle_asset(name) for name in EXAMPLE_ROWS])
