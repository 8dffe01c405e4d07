"""Verify, delete and garbage-collect: the operator's side of a store.

A mixin of :class:`~buckaroo_assets.store.bundle_store.BundleStore`, kept apart
because it reasons about the whole store (every manifest, pointer and
leftover) where the rest of the store reads and writes one bundle.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Iterable

from ..bundle.ids import validate_config_id, validate_data_id
from ..errors import BundleCorrupted, BundleNotFound, PartialStatsError
from .entries import BundleEntry, Damage, GcReport, VerifyReport
from .layout import MANIFEST, PARTIAL_SUFFIX, TEMP_MARK, Layout, pointer_label
from .listing import listed_bundles, write_entry
from .members import members_config, parse_members
from .objects import ObjectFiles, modified, utc_now
from .partial_state import abandoned_files, partial_markers
from .pointers import dataset_pointers, pointer_bytes, read_pointer, read_pointers
from .scan import leftovers, scan

__all__ = ["DEFAULT_GRACE", "StoreMaintenance"]

DEFAULT_GRACE = _dt.timedelta(hours=1)


class StoreMaintenance:
    """Whole-store operations; the store supplies ``files``, ``layout``, ``get`` and ``exists``."""

    files: ObjectFiles
    layout: Layout

    def verify(self, grace: _dt.timedelta = DEFAULT_GRACE) -> VerifyReport:
        """Re-read and re-check every bundle and pointer; report damage and leftover files.

        Damage: a manifest or pack that fails verification, a pointer that
        cannot be read or names a bundle that is not published.  Leftovers
        (packs no manifest names, temporary files) younger than ``grace`` may
        belong to a write in progress and are not reported.  Builds in progress
        (partial states) are listed in ``building``, stale or not; never checked as bundles.
        """
        found = scan(self.files, self.layout)
        report = VerifyReport(checked=len(found.entries) + len(found.damaged))
        report.damaged.extend(found.damaged)
        for entry in found.entries:
            try:
                self.get(entry.data_id, entry.config_id)
            except BundleNotFound:
                report.checked -= 1  # deleted while we verified
            except Exception as exc:
                path = self.layout.bundle_dir(entry.data_id, entry.config_id)
                report.damaged.append(Damage(path, str(exc), entry.data_id, entry.config_id))
        published = {(e.data_id, e.config_id) for e in found.entries}
        published |= {(d.data_id, d.config_id) for d in found.damaged}
        id_pointers = read_pointers(
            self.files, self.layout, sorted(p for p in found.files if self.layout.is_id_pointer(p))
        )
        for path, key in sorted({**found.pointers, **id_pointers}.items()):
            if isinstance(key, BundleCorrupted):
                report.damaged.append(Damage(path, str(key)))
            elif key not in published and not self.exists(*key):  # exists: published since
                report.damaged.append(
                    Damage(path, "pointer names a bundle that is not published", *key)
                )
        report.orphans = sorted(leftovers(found, grace) + self._partial_leftovers(grace))
        report.building = self.in_progress()
        return report

    def delete(self, data_id: str, config_id: str, *, force: bool = False) -> bool:
        """Unpublish a bundle (manifest first) and remove its files.

        A bundle a dataset pointer names is refused unless ``force``, which
        removes those pointers too.  Returns whether a bundle was published.
        """
        validate_data_id(data_id)
        validate_config_id(config_id)
        named = dataset_pointers(self.files, self.layout).items()
        pointers = [path for path, key in named if key == (data_id, config_id)]
        if pointers and not force:
            raise ValueError(
                f"bundle ({data_id}, {config_id}) is named by dataset pointer(s) "
                f"{', '.join(sorted(pointer_label(p) for p in pointers))}; "
                "pass force=True to delete it anyway"
            )
        for path in pointers:
            self.files.remove(path)
        return self._remove_bundle(data_id, config_id)

    def _remove_bundle(self, data_id: str, config_id: str) -> bool:
        """Unpublish (manifest first), then remove the pack and the entry objects with it."""
        folder = self.layout.bundle_dir(data_id, config_id)
        manifest = f"{folder}/{MANIFEST}"
        existed = self.files.fs.exists(manifest)
        self.files.remove(manifest)  # unpublished from here on
        # File by file: fsspec's recursive rm would treat glob characters in the root as globs.
        for path in self.files.find(folder):
            self.files.remove(path)
        if not self.files.atomic:
            with contextlib.suppress(OSError):
                self.files.fs.rmdir(folder)
        self._repoint_data_id(data_id, config_id)
        return existed

    def _repoint_data_id(self, data_id: str, removed_config_id: str) -> None:
        """After removing the config a data_id's pointer names, name its newest remaining one."""
        latest = self.layout.id_pointer(data_id)
        try:
            if read_pointer(self.files, self.layout, latest, latest)[1] != removed_config_id:
                return
        except (BundleNotFound, BundleCorrupted):
            return  # nothing to repoint, or damage that verify reports
        listing = self.files.find(self.layout.bundles(data_id))
        remaining = [
            e
            for e in listed_bundles(self.files, self.layout, listing)
            if e.config_id != removed_config_id
        ]
        if not remaining:
            self.files.remove(latest)
            return
        newest = max(remaining, key=lambda e: e.created_at)
        published_at = newest.created_at.isoformat(timespec="milliseconds")
        self.files.write(latest, pointer_bytes(data_id, newest.config_id, published_at))

    def gc(
        self,
        *,
        keep_latest: int | None = None,
        older_than: _dt.timedelta | None = None,
        grace: _dt.timedelta = DEFAULT_GRACE,
        dry_run: bool = False,
    ) -> GcReport:
        """Remove old bundles and leftovers; never what a dataset pointer names.

        ``keep_latest=N`` keeps the N newest bundles of each dataset;
        ``older_than`` removes only bundles created before ``now - older_than``
        (with ``keep_latest`` both must hold; alone, it applies to every bundle).
        Packs and entry objects no manifest accounts for, and temporary files,
        are removed once older than ``grace`` (a write in progress is younger);
        partial states of builds started more than ``STALE_AFTER`` ago (killed
        ones), whatever ``grace`` says.  A kept bundle without an entry object
        (published by an older version) gets one, so listings stop reading it.
        """
        if keep_latest is None and older_than is None:
            raise ValueError("gc needs keep_latest and/or older_than")
        if keep_latest is not None and keep_latest < 0:
            raise ValueError(f"keep_latest must be >= 0, got {keep_latest}")
        found = scan(self.files, self.layout)
        cutoff = None if older_than is None else utc_now() - older_than
        # Leftovers from the scan, before removing bundles, whose packs are not leftovers.
        report = GcReport(
            dry_run=dry_run,
            removed_files=sorted(leftovers(found, grace) + self._partial_leftovers(grace)),
        )
        for entry in collectable(found.entries, keep_latest, cutoff):
            report.removed.append(entry)
            if not dry_run:
                self._remove_bundle(entry.data_id, entry.config_id)
        report.kept = len(found.entries) - len(report.removed)
        if not dry_run:
            gone = {(e.data_id, e.config_id) for e in report.removed}
            for entry in found.unnamed:
                if (entry.data_id, entry.config_id) not in gone:
                    write_entry(self.files, self.layout, entry)
        building = self.files.find(self.layout.building())
        report.removed_files += abandoned_files(building, partial_markers(self.files, building))
        if not dry_run:
            for path in report.removed_files:
                self.files.remove(path)
        return report

    def _partial_leftovers(self, grace: _dt.timedelta) -> list[str]:
        """Partials older than ``grace`` that a newer one of the same fragment and config
        superseded (the fragment's content changed), those of fragments the dataset's
        latest merge no longer lists (a deleted file), and interrupted partial writes.

        The newest partial of each listed fragment and config is kept: it is what the
        next merge reuses. Removing a partial costs at most its rebuild, never a wrong bundle.
        """
        cutoff = utc_now() - grace
        root = self.layout.partials()
        found: list[str] = []
        by_folder: dict[str, list[tuple[_dt.datetime, str]]] = {}
        listed = self.files.find(root)
        members = self._fragment_members(listed)
        for path, info in listed.items():
            folder, name = path.rsplit("/", 1)
            changed = modified(info)
            if changed is None:
                continue
            if TEMP_MARK in name:
                if changed < cutoff:
                    found.append(path)
            elif name.endswith(PARTIAL_SUFFIX):
                parts = folder[len(root) + 1 :].split("/")  # dataset, fragment, config
                kept = members.get((parts[0], parts[2])) if len(parts) == 3 else None
                if kept is not None and parts[1] not in kept:
                    if changed < cutoff:
                        found.append(path)
                else:
                    by_folder.setdefault(folder, []).append((changed, path))
        for written in by_folder.values():
            written.sort()
            found += [path for changed, path in written[:-1] if changed < cutoff]
        return found

    def _fragment_members(self, listed: Iterable[str]) -> dict[tuple[str, str], set[str]]:
        """(dataset, config_id) -> fragment ids of its latest merge, from the members
        objects among ``listed``; a list that cannot be read prunes nothing."""
        wanted = [p for p in listed if members_config(p.rsplit("/", 1)[1]) is not None]
        members: dict[tuple[str, str], set[str]] = {}
        for path, raw in self.files.cat_many(wanted).items():
            folder, name = path.rsplit("/", 1)
            with contextlib.suppress(PartialStatsError):
                if isinstance(raw, BaseException):
                    raise PartialStatsError(str(raw))
                members[(folder.rsplit("/", 1)[1], members_config(name))] = parse_members(path, raw)
        return members

def collectable(
    entries: Iterable[BundleEntry], keep_latest: int | None, cutoff: _dt.datetime | None
) -> list[BundleEntry]:
    by_dataset: dict[str | None, list[BundleEntry]] = {}
    for entry in entries:
        by_dataset.setdefault(entry.dataset, []).append(entry)
    chosen = []
    for dataset, group in by_dataset.items():
        group.sort(key=lambda e: e.created_at, reverse=True)
        for rank, entry in enumerate(group):
            if entry.pinned_by:
                continue
            beyond_kept = keep_latest is None or (dataset is not None and rank >= keep_latest)
            old_enough = cutoff is None or entry.created_at < cutoff
            if beyond_kept and old_enough and (cutoff is not None or dataset is not None):
                chosen.append(entry)
    return chosen
