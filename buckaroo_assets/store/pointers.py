"""Pointers: small objects naming one published bundle, checked against what they may name.

A data_id's pointer may only name a bundle of that data_id, a per-config
dataset pointer only a bundle of that config; anything else is damage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..bundle import codec
from ..bundle.ids import validate_config_id, validate_data_id
from ..errors import BundleCorrupted
from .layout import Layout, PointerScope, pointer_label
from .objects import ObjectFiles

__all__ = [
    "dataset_pointers",
    "parse_pointer",
    "pins",
    "pointer_bytes",
    "read_pointer",
    "read_pointers",
]

Key = tuple[str, str]


def pointer_bytes(
    data_id: str, config_id: str, published_at: str, dataset: str | None = None
) -> bytes:
    """A pointer; a dataset's pointers also say which dataset they belong to."""
    pointer = {"data_id": data_id, "config_id": config_id, "published_at": published_at}
    if dataset is not None:
        pointer["dataset"] = dataset
    return codec.dumps(pointer)


def parse_pointer(raw: bytes, path: str, layout: Layout) -> Key:
    """The ``(data_id, config_id)`` a pointer names; one that cannot be right is damaged.

    A pointer copied from another data_id, config or dataset is refused: each
    one names what it belongs to, and that must match where it is stored.
    """
    try:
        pointer = codec.loads(raw)
        if not isinstance(pointer, dict):
            raise TypeError("not an object")
        key = (validate_data_id(pointer["data_id"]), validate_config_id(pointer["config_id"]))
    except (ValueError, TypeError, KeyError, RecursionError):
        raise BundleCorrupted(f"{path}: pointer is damaged") from None
    scope = layout.pointer_scope(path) or PointerScope()
    if scope.data_id not in (None, key[0]) or scope.config_id not in (None, key[1]):
        raise BundleCorrupted(f"{path}: pointer names another bundle ({key[0]}, {key[1]})")
    if scope.dataset is not None and pointer.get("dataset") != scope.dataset:
        owner = pointer.get("dataset")
        if owner is None:
            raise BundleCorrupted(f"{path}: pointer does not say it belongs to {scope.dataset!r}")
        raise BundleCorrupted(f"{path}: pointer belongs to another dataset ({str(owner)[:60]!r})")
    return key


def read_pointer(files: ObjectFiles, layout: Layout, path: str, missing: str) -> Key:
    return parse_pointer(files.cat(path, missing), path, layout)


def read_pointers(
    files: ObjectFiles, layout: Layout, paths: Iterable[str]
) -> dict[str, Key | BundleCorrupted]:
    """Every pointer among ``paths``, each as the key it names or the damage found."""
    found: dict[str, Key | BundleCorrupted] = {}
    for path, data in files.cat_many(paths).items():
        if isinstance(data, BaseException):
            found[path] = BundleCorrupted(f"{path}: pointer cannot be read: {data}")
            continue
        try:
            found[path] = parse_pointer(data, path, layout)
        except BundleCorrupted as exc:
            found[path] = exc
    return found


def dataset_pointers(
    files: ObjectFiles, layout: Layout, listing: dict[str, dict[str, Any]] | None = None
) -> dict[str, Key | BundleCorrupted]:
    """Every dataset pointer (from ``listing``, or listed now) and what it names."""
    if listing is None:
        listing = files.find(f"{layout.base}/datasets")
    return read_pointers(files, layout, sorted(p for p in listing if layout.pointer_scope(p)))


def pins(pointers: dict[str, Key | BundleCorrupted]) -> dict[Key, tuple[str, ...]]:
    """The labels of the readable pointers naming each bundle, in path order.

    For one dataset that is ``<dataset>@<config_id>`` then ``<dataset>``, the
    order ``put`` reports them in; damaged pointers are left to ``verify``.
    """
    found: dict[Key, list[str]] = {}
    for path in sorted(pointers):
        key = pointers[path]
        if not isinstance(key, BundleCorrupted):
            found.setdefault(key, []).append(pointer_label(path))
    return {key: tuple(labels) for key, labels in found.items()}
