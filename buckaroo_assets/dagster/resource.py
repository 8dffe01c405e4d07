"""The store as a Dagster resource: one URL and its options, configurable per deployment."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from pydantic import Field

from ..store.bundle_store import BundleStore
from ..store.locate import STORE_ENV, choose_store, open_store
from .orphans import watch_run_worker

__all__ = ["VIEWER_URL_ENV", "BundleStoreResource", "default_store_url"]

VIEWER_URL_ENV = "BUCKAROO_VIEWER_URL"


def default_store_url() -> str:
    """The store the one rule picks without an explicit URL (see ``choose_store``)."""
    return choose_store().url


class BundleStoreResource(dg.ConfigurableResource):
    """Where bundles are published and read: any fsspec URL (``file://``, ``s3://``, ...).

    Put credentials in ``storage_options`` through ``dg.EnvVar`` (or leave them
    out and let s3fs use the standard AWS chain); they never reach metadata or logs.
    """

    url: str | None = Field(
        default=None,
        description=f"Store URL; defaults to ${STORE_ENV}, else the project configuration's "
        "store, else .buckaroo/store under the working directory.",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options, e.g. client_kwargs.endpoint_url."
    )
    viewer_url: str | None = Field(
        default=None,
        description="Base URL of a `buckaroo-assets serve` server, for 'open in viewer' links "
        f"in metadata; defaults to ${VIEWER_URL_ENV}.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """In a step process of its own, stop the step if its run worker dies (see ``orphans``)."""
        if context.instance is not None and context.run is not None:
            watch_run_worker(context.instance, context.run)

    def get_store(self) -> BundleStore:
        return open_store(self.url, self.storage_options or None)

    def get_viewer_url(self) -> str | None:
        """The viewer server links point at, if any: the field, else ``$BUCKAROO_VIEWER_URL``."""
        return self.viewer_url or os.environ.get(VIEWER_URL_ENV) or None
