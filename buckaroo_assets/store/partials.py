"""Partial stats of dataset fragments, kept in a bundle store by the content they summarise.

A fragment's partial (``PartialStats.to_bytes``) is stored under
``v1/partials/<dataset>/<fragment id>/<config_id>/<content id>.partial``,
written whole by the store's object writer, so a reader finds the complete
bytes or nothing. The content id changes exactly when the fragment's data
does, so a partial found under it can be reused without reading the data.

A fragment whose content is not listed afresh by every merge (a partition of
an upstream asset, summarised in its own run) also has a *current* pointer,
``v1/partials/<dataset>/<fragment id>/<config_id>/current.json``: which
content id is the fragment's now, and what the fragment is (its partition
key). A merge in any later run reads the pointers to know which partials
make up the dataset; one object per fragment, so runs of different
fragments never overwrite each other's.

A dataset whose merges list its fragments afresh (the files of a folder, the
row ranges of a file) also has a *members* object per config,
``v1/partials/<dataset>/.members-<config_id>.json``: the fragment ids its
latest merge used. ``gc`` removes the partials of fragments it does not name
(a deleted file), which nothing else could tell from a fragment not yet merged.
"""

from __future__ import annotations

import json

from ..bundle.ids import validate_config_id, validate_data_id
from ..errors import PartialStatsError
from .bundle_store import BundleStore
from .members import members_bytes, members_path, parse_members
from .objects import unavailable_as_store_error

__all__ = ["CURRENT", "PartialFiles"]

CURRENT = "current.json"


class PartialFiles:
    """The partials of one store: read and written by (dataset, fragment, config, content)."""

    def __init__(self, store: BundleStore) -> None:
        self.store = store

    def path(self, dataset: str, fragment_id: str, config_id: str, content_id: str) -> str:
        """Where one partial lives; every part is checked as a path segment first."""
        validate_data_id(content_id, what="content id")
        return self.store.layout.partial(
            *self._fragment(dataset, fragment_id, config_id), content_id
        )

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

    def current_path(self, dataset: str, fragment_id: str, config_id: str) -> str:
        """Where the fragment's current pointer lives (beside its partials)."""
        dataset, fragment_id, config_id = self._fragment(dataset, fragment_id, config_id)
        return f"{self.store.layout.partials(dataset)}/{fragment_id}/{config_id}/{CURRENT}"

    def current(self, dataset: str, fragment_id: str, config_id: str) -> str | None:
        """The content id the fragment's pointer names, or None when it has none."""
        path = self.current_path(dataset, fragment_id, config_id)
        raw = self.store.files.read_if_any(path)
        return None if raw is None else _pointer(path, raw)[1]

    def set_current(
        self, dataset: str, fragment_id: str, config_id: str, content_id: str, label: str
    ) -> None:
        """Make ``content_id`` the fragment's current content; ``label`` says what the fragment
        is (e.g. its partition key), for the merges that read the pointers back."""
        validate_data_id(content_id, what="content id")
        pointer = json.dumps({"fragment": label, "content_id": content_id}, sort_keys=True)
        self.store.files.write(self.current_path(dataset, fragment_id, config_id), pointer.encode())

    def all_current(self, dataset: str, config_id: str) -> dict[str, tuple[str, str]]:
        """Fragment id -> (label, content id) of every fragment of ``dataset`` with a current
        pointer under ``config_id``: one listing and one concurrent read of the pointers.

        A pointer that cannot be read raises ``PartialStatsError``: a merge without it
        would silently leave the fragment out.
        """
        validate_data_id(dataset, what="dataset name")
        validate_config_id(config_id)
        root = self.store.layout.partials(dataset)
        paths = [
            path
            for path in self.store.files.find(root)
            if path.endswith(f"/{config_id}/{CURRENT}") and path.count("/") - root.count("/") == 3
        ]
        found: dict[str, tuple[str, str]] = {}
        for path, data in sorted(self.store.files.cat_many(paths).items()):
            if isinstance(data, BaseException):
                raise PartialStatsError(f"{path}: cannot read the current pointer: {data}")
            found[path[len(root) + 1 :].split("/", 1)[0]] = _pointer(path, data)
        return found

    def members(self, dataset: str, config_id: str) -> set[str] | None:
        """The fragment ids of the dataset's latest merge under ``config_id``, or None when
        no merge recorded them (a partitioned upstream, or none yet)."""
        path = members_path(self.store.layout, dataset, config_id)
        raw = self.store.files.read_if_any(path)
        return None if raw is None else parse_members(path, raw)

    def set_members(self, dataset: str, config_id: str, fragment_ids: list[str]) -> None:
        """Record the fragments a merge used; written only when they changed (one read).
        A damaged list is replaced: it is bookkeeping, never a reason to fail a merge."""
        listing = members_bytes(fragment_ids)
        try:
            if self.members(dataset, config_id) == set(fragment_ids):
                return
        except PartialStatsError:
            pass
        self.store.files.write(members_path(self.store.layout, dataset, config_id), listing)

    def _fragment(self, dataset: str, fragment_id: str, config_id: str) -> tuple[str, str, str]:
        validate_data_id(dataset, what="dataset name")
        validate_data_id(fragment_id, what="fragment id")
        validate_config_id(config_id)
        return dataset, fragment_id, config_id


def _pointer(path: str, raw: bytes) -> tuple[str, str]:
    """(label, content id) of a current pointer; anything else is ``PartialStatsError``."""
    try:
        pointer = json.loads(raw)
        label, content_id = pointer["fragment"], pointer["content_id"]
        if not isinstance(label, str):
            raise TypeError("the fragment is not a string")
        return label, validate_data_id(content_id, what="content id")
    except (ValueError, TypeError, KeyError) as exc:
        raise PartialStatsError(f"{path}: not a current-partial pointer ({exc})") from None
