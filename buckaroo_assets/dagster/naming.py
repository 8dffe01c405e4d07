"""Names that must be valid in two worlds: store paths (dataset names) and Dagster asset keys."""

from __future__ import annotations

import hashlib
import re

import dagster as dg

from ..bundle.ids import validate_data_id

__all__ = ["asset_name", "dataset_for_asset", "partition_dataset"]

_NOT_KEY_CHAR = re.compile(r"[^A-Za-z0-9_]")
_SAFE_PARTITION = re.compile(r"[A-Za-z0-9._=-]{1,80}", re.ASCII)


def asset_name(dataset: str) -> str:
    """Dagster asset names allow letters, digits and ``_``; dataset names also ``. - @ =``."""
    return _NOT_KEY_CHAR.sub("_", validate_data_id(dataset, what="dataset name"))


def dataset_for_asset(key: dg.AssetKey) -> str:
    """The dataset name a bundle of an existing asset is published under: its key, dotted."""
    return validate_data_id(".".join(key.path), what="dataset name")


def partition_dataset(dataset: str, partition_key: str | None) -> str:
    """``name@partition``; partition keys outside the safe charset are replaced by a digest."""
    if partition_key is None:
        return dataset
    if not (_SAFE_PARTITION.fullmatch(partition_key) and ".." not in partition_key):
        digest = hashlib.blake2b(partition_key.encode(), digest_size=8).hexdigest()
        partition_key = f"p-{digest}"
    return validate_data_id(f"{dataset}@{partition_key}", what="dataset name")
