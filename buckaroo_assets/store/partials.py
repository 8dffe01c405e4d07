"""Partial stats of dataset fragments, kept in a bundle store by the content they summarise.

A fragment's partial (``PartialStats.to_bytes``) is stored under
``v1/partials/<dataset>/<fragment id>/<config_id>/<content id>.partial``,
written whole by the store's object writer, so a reader finds the complete
bytes or nothing. The content id changes exactly when the fragment's data
does, so a partial found under it can be reused without reading the data.
"""

from __future__ import annotations

from ..bundle.ids import validate_config_id, validate_data_id
from .bundle_store import BundleStore
from .objects import unavailable_as_store_error

__all__ = ["PartialFiles"]


class PartialFiles:
    """The partials of one store: read and written by (dataset, fragment, config, content)."""

    def __init__(self, store: BundleStore) -> None:
        self.store = store

    def path(self, dataset: str, fragment_id: str, config_id: str, content_id: str) -> str:
        """Where one partial lives; every part is checked as a path segment first."""
        validate_data_id(dataset, what="dataset name")
        validate_data_id(fragment_id, what="fragment id")
        validate_config_id(config_id)
        validate_data_id(content_id, what="content id")
        return self.store.layout.partial(dataset, fragment_id, config_id, content_id)

    def exists(self, dataset: str, fragment_id: str, config_id: str, content_id: str) -> bool:
        """Whether this content was summarised under this config: one HEAD or stat, no read."""
        path = self.path(dataset, fragment_id, config_id, content_id)
        with unavailable_as_store_error("look for", path):
            return self.store.fs.exists(path)

    def read(self, dataset: str, fragment_id: str, config_id: str, content_id: str) -> bytes | None:
        """The stored partial, or None when this content was never summarised under this config."""
        return self.store.files.read_if_any(self.path(dataset, fragment_id, config_id, content_id))

    def write(
        self, dataset: str, fragment_id: str, config_id: str, content_id: str, data: bytes
    ) -> str:
        """Store one partial whole (one PUT, or a temporary file renamed); returns its URL."""
        path = self.path(dataset, fragment_id, config_id, content_id)
        self.store.files.write(path, data)
        return self.store.fs.unstrip_protocol(path)
