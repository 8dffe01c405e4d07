"""Make sure a store holds the bundle of one dataset version: reuse it, or build and publish it.

This is what every producer does (Dagster assets, the CLI): derive the
data_id cheaply, and read the data only when ``(data_id, config_id)`` is not
already published.  A damaged stored bundle is rebuilt, never trusted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..bundle.config import StatsConfig
from ..bundle.ids import validate_data_id
from ..bundle.model import Bundle
from ..errors import BundleCorrupted, BundleNotFound
from ..store import BundleEntry, BundleStore
from .builder import BuildProgress, build_bundle
from .data_id import data_id_for

__all__ = ["Published", "ensure_bundle"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """The stored bundle, whether it was already there (``hit``), and what it cost."""

    bundle: Bundle
    entry: BundleEntry
    hit: bool
    seconds: float


def ensure_bundle(
    store: BundleStore,
    source: Any,
    *,
    config: StatsConfig | None = None,
    data_id: str | None = None,
    dataset: str | None = None,
    storage_options: dict[str, Any] | None = None,
    progress: Callable[[BuildProgress], None] | None = None,
) -> Published:
    """The bundle of ``source`` under ``config`` in ``store``, built only if missing."""
    config = config or StatsConfig()
    started = time.perf_counter()
    if dataset is not None:
        validate_data_id(dataset, what="dataset name")
    if data_id is None:
        data_id = data_id_for(source, storage_options=storage_options, memo=store.file_hashes)
    try:
        bundle = store.get(data_id, config.config_id)
    except BundleNotFound:
        bundle = None
    except BundleCorrupted as exc:
        log.warning("stored bundle %s/%s is damaged (%s); rebuilding", data_id, config.config_id, exc)
        bundle = None
    if bundle is not None:
        entry = store.point(data_id, config.config_id, dataset=dataset)
        return Published(bundle, entry, True, time.perf_counter() - started)
    bundle = build_bundle(source, data_id, config, storage_options=storage_options, progress=progress)
    entry = store.put(bundle, dataset=dataset)
    return Published(bundle, entry, False, time.perf_counter() - started)
