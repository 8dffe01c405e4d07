"""The store as a Dagster resource: one URL and its options, configurable per deployment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from ..store.bundle_store import BundleStore
from ..store.locate import STORE_ENV, open_store

__all__ = ["DEFAULT_STORE_FOLDER", "BundleStoreResource", "default_store_url"]

DEFAULT_STORE_FOLDER = Path(".buckaroo") / "store"


def default_store_url() -> str:
    """``$BUCKAROO_STORE_URL``, else ``.buckaroo/store`` under the working directory."""
    return os.environ.get(STORE_ENV) or (Path.cwd() / DEFAULT_STORE_FOLDER).resolve().as_uri()


class BundleStoreResource(dg.ConfigurableResource):
    """Where bundles are published and read: any fsspec URL (``file://``, ``s3://``, ...).

    Put credentials in ``storage_options`` through ``dg.EnvVar`` (or leave them
    out and let s3fs use the standard AWS chain); they never reach metadata or logs.
    """

    url: str | None = Field(
        default=None,
        description=f"Store URL; defaults to ${STORE_ENV}, else .buckaroo/store in the project.",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec options, e.g. client_kwargs.endpoint_url."
    )
    viewer_url: str | None = Field(
        default=None,
        description="Base URL of a `buckaroo-assets serve` server, for links in metadata.",
    )

    def get_store(self) -> BundleStore:
        return open_store(self.url or default_store_url(), self.storage_options or None)
