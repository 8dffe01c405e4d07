"""Which store a caller means, and one ``BundleStore`` instance per URL and options.

Shared by the reader, the CLI, the viewer server and the Dagster resource, so
every entry point finds the same store for the same request.  The store
itself (fsspec, pyarrow) loads on the first ``open_store`` call, so a CLI that
only needs ``STORE_ENV`` for its ``--help`` stays instant.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bundle_store import BundleStore

__all__ = ["STORE_ENV", "open_store"]

STORE_ENV = "BUCKAROO_STORE_URL"

_STORES: dict[tuple[str, str], BundleStore] = {}
_STORES_LOCK = threading.Lock()


def open_store(
    store: BundleStore | str | os.PathLike[str] | None,
    storage_options: dict[str, Any] | None = None,
) -> BundleStore:
    """A store from an instance, a URL, or ``$BUCKAROO_STORE_URL``; one instance per URL+options."""
    from .bundle_store import BundleStore, options_digest

    if isinstance(store, BundleStore):
        return store
    if store is None:
        store = os.environ.get(STORE_ENV)
        if not store:
            raise ValueError(f"no store given: pass store=URL or set {STORE_ENV}")
    url = os.fspath(store)
    digest = options_digest(storage_options)
    if digest is None:
        return BundleStore(url, storage_options)
    with _STORES_LOCK:
        found = _STORES.get((url, digest))
        if found is None:
            found = _STORES[(url, digest)] = BundleStore(url, storage_options)
        return found
