"""Where each object of a store lives, and what a path found in a listing is.

Layout under the store root (``v1`` is the layout version)::

    v1/bundles/<data_id>/<config_id>/pack-<sha256>.bin   parts, content-addressed
    v1/bundles/<data_id>/<config_id>/manifest.json       the commit point
    v1/bundles/<data_id>/<config_id>/entry~<dataset>~<created_at>~<rows>~<columns>~<bytes>~<bytes>
                                                         empty; its name is what a listing shows
                                                         (see :func:`.entries.entry_name`)
    v1/bundles/<data_id>/latest.json                     config last published for a data_id
    v1/datasets/<name>/latest.json                       newest bundle of a named dataset
    v1/datasets/<name>/config-<config_id>.json           newest bundle of it under one config
    v1/file-hashes/<digest>.json                         remembered hashes of local sources
    v1/building/<data_id>/<config_id>/window.bin         first rows of a build in progress
    v1/building/<data_id>/<config_id>/partial.json       its marker (see :mod:`.partial_state`)
    v1/partials/<dataset>/<fragment id>/<config_id>/<content id>.partial
                                                         one fragment's partial stats
    v1/partials/<dataset>/<fragment id>/<config_id>/current.json
                                                         a partition's current partial (see
                                                         :mod:`.partials`)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "LATEST",
    "LAYOUT",
    "MANIFEST",
    "PARTIAL_SUFFIX",
    "TEMP_MARK",
    "Layout",
    "PointerScope",
    "pointer_label",
]

LAYOUT = "v1"
MANIFEST = "manifest.json"
LATEST = "latest.json"
PARTIAL_SUFFIX = ".partial"
TEMP_MARK = ".tmp-"  # in the name of an object being written on a filesystem without atomic puts
_CONFIG_POINTER = re.compile(r"config-([0-9a-f]{32})\.json", re.ASCII)


@dataclass(frozen=True)
class PointerScope:
    """What a pointer at a given path may name: a bundle of this data_id, config, dataset."""

    data_id: str | None = None
    config_id: str | None = None
    dataset: str | None = None


@dataclass(frozen=True)
class Layout:
    """Paths under ``<root>/v1``; callers validate ids before asking for a path."""

    base: str

    @classmethod
    def under(cls, root: str) -> Layout:
        return cls(f"{root.rstrip('/')}/{LAYOUT}")

    def bundles(self, data_id: str | None = None) -> str:
        """Every bundle's folder, or one data_id's."""
        base = f"{self.base}/bundles"
        return base if data_id is None else f"{base}/{data_id}"

    def bundle_dir(self, data_id: str, config_id: str) -> str:
        return f"{self.base}/bundles/{data_id}/{config_id}"

    def manifest(self, data_id: str, config_id: str) -> str:
        return f"{self.bundle_dir(data_id, config_id)}/{MANIFEST}"

    def id_pointer(self, data_id: str) -> str:
        return f"{self.base}/bundles/{data_id}/{LATEST}"

    def datasets(self, dataset: str | None = None) -> str:
        """Every dataset's pointers, or one dataset's."""
        base = f"{self.base}/datasets"
        return base if dataset is None else f"{base}/{dataset}"

    def dataset_pointer(self, dataset: str, config_id: str | None) -> str:
        name = LATEST if config_id is None else f"config-{config_id}.json"
        return f"{self.base}/datasets/{dataset}/{name}"

    def file_hashes(self) -> str:
        return f"{self.base}/file-hashes"

    def building(self, data_id: str | None = None, config_id: str | None = None) -> str:
        """Where builds in progress keep their partial state: all, one data_id's, or one key's."""
        return "/".join([f"{self.base}/building", *filter(None, (data_id, config_id))])

    def partials(self, dataset: str | None = None) -> str:
        """Every dataset's partials, or one dataset's."""
        base = f"{self.base}/partials"
        return base if dataset is None else f"{base}/{dataset}"

    def partial(self, dataset: str, fragment_id: str, config_id: str, content_id: str) -> str:
        return f"{self.partials(dataset)}/{fragment_id}/{config_id}/{content_id}{PARTIAL_SUFFIX}"

    def pointer_scope(self, path: str) -> PointerScope | None:
        """What the pointer at ``path`` may name.

        ``None`` when ``path`` is not a pointer at all (a temporary file, a stray object).
        """
        if not path.startswith(f"{self.base}/"):
            return None
        parts = path[len(self.base) + 1 :].split("/")
        if len(parts) != 3:
            return None
        kind, owner, name = parts
        if kind == "bundles" and name == LATEST:
            return PointerScope(data_id=owner)
        if kind == "datasets":
            if name == LATEST:
                return PointerScope(dataset=owner)
            if match := _CONFIG_POINTER.fullmatch(name):
                return PointerScope(config_id=match.group(1), dataset=owner)
        return None

    def is_id_pointer(self, path: str) -> bool:
        scope = self.pointer_scope(path)
        return scope is not None and scope.data_id is not None


def pointer_label(path: str) -> str:
    """``<dataset>`` for a dataset's latest pointer, ``<dataset>@<config_id>`` for a per-config one."""
    dataset, name = path.rsplit("/", 2)[-2:]
    return dataset if name == LATEST else f"{dataset}@{name[len('config-') : -len('.json')]}"
