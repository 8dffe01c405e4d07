"""A dataset's two latest versions in a store, for "what changed since last time"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BundleNotFound

if TYPE_CHECKING:
    from ..store.bundle_store import BundleStore

__all__ = ["previous_and_latest"]


def previous_and_latest(
    store: BundleStore, dataset: str
) -> tuple[tuple[str, str], tuple[str, str]]:
    """``((data_id, config_id), (data_id, config_id))`` of a dataset's previous and latest versions.

    The latest is what the dataset's pointer names (``store.resolve(dataset=...)``).
    The previous is the newest other version among the bundles published for
    the dataset (``store.list()``, by ``created_at``): the newest bundle whose
    data_id differs, under the latest's config_id when that version has a
    bundle of it, so both sides were computed alike when they can be.
    Raises ``BundleNotFound`` when the dataset has no other version.
    """
    latest = store.resolve(dataset=dataset)
    others = [e for e in store.list() if e.dataset == dataset and e.data_id != latest[0]]
    if not others:
        raise BundleNotFound(
            f"dataset {dataset!r} has no version other than {latest[0]} in {store.url}"
        )
    previous = others[-1].data_id
    configs = [e.config_id for e in others if e.data_id == previous]
    return (previous, latest[1] if latest[1] in configs else configs[-1]), latest
