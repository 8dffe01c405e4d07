"""Partial stats: one fragment of a dataset summarised anywhere, merged into its bundle elsewhere.

``build_partial`` runs the engine over one fragment — a block-aligned row
range of a source, or a source that is one piece of a dataset — and keeps
every accumulator's state instead of finalising it. ``PartialStats.to_bytes``
carries that state to another process or machine (no pickle: the bundle
codec for values, raw numpy and Arrow IPC bytes for arrays, BLAKE3-checked);
``merge_partials`` merges the fragments in order and finalises them into the
bundle ``build_bundle`` would have built from the whole (docs/partials.md
says which stats are identical and which stay within their sketch bounds).
"""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import blake3
import numpy as np
import pyarrow as pa

from ..bundle.codec import dumps, loads
from ..bundle.config import StatsConfig
from ..bundle.ids import validate_data_id
from ..bundle.model import Bundle
from ..errors import PartialStatsError
from ..stats.column_accumulator import ColumnAccumulator
from ..version import STATS_ENGINE_VERSION
from .builder import new_accumulator, producer, scan_source, stats_entries
from .digests import framed, json_bytes, new_hash
from .sources import open_source

__all__ = [
    "FORMAT_VERSION",
    "PartialStats",
    "build_partial",
    "folder_files",
    "fragment_rows",
    "fragments_data_id",
    "merge_partials",
]

FORMAT_VERSION = 1
_MAGIC = b"BAPS"
# magic, format version (u16), BLAKE3-256 of everything after it, payload size before
# compression (u64); then the zstd-compressed payload.
_PREFIX = struct.Struct("<4sH32sQ")
_CODEC = "zstd"


@dataclass(frozen=True, eq=False)
class PartialStats:
    """The unfinished stats of fragments ``fragment_index`` .. ``+ fragment_span - 1`` of
    ``fragment_count``: every column's accumulator state and the fragments' first rows."""

    config: StatsConfig
    fragment_index: int
    fragment_span: int
    fragment_count: int
    rows: int
    window: pa.Table  # the first rows (at most config.window_rows), with the source's schema
    names: list[Hashable]
    dtypes: list[str]
    notes: dict[int, str]
    columns: list[dict[str, Any]]  # each column's accumulator state
    source_kind: str
    data_id: str | None = None
    build_seconds: float = 0.0
    column_groups: int = 1

    @property
    def schema(self) -> pa.Schema:
        return self.window.schema

    @classmethod
    def combine(cls, partials: Sequence[PartialStats]) -> PartialStats:
        """Partials of consecutive fragments (any order given) as one: merges can be a tree."""
        ordered = _in_order(partials)
        first = ordered[0]
        states = [
            _merged_state(field.type, name, first.config, [p.columns[i] for p in ordered])
            for i, (field, name) in enumerate(zip(first.schema, first.names, strict=True))
        ]
        windows = [pa.Table.from_arrays(p.window.columns, schema=first.schema) for p in ordered]
        notes: dict[int, str] = {}
        for part in ordered:
            for position, note in part.notes.items():
                if note not in notes.get(position, "").split("; "):
                    notes[position] = "; ".join(filter(None, (notes.get(position), note)))
        return replace(
            first,
            fragment_span=sum(p.fragment_span for p in ordered),
            rows=sum(p.rows for p in ordered),
            window=pa.concat_tables(windows).slice(0, first.config.window_rows).combine_chunks(),
            notes=notes,
            columns=states,
            data_id=next((p.data_id for p in ordered if p.data_id is not None), None),
            build_seconds=sum(p.build_seconds for p in ordered),
            column_groups=max(p.column_groups for p in ordered),
        )

    def to_bytes(self) -> bytes:
        """A versioned, checksummed, zstd-compressed binary form; no pickle."""
        blobs: list[bytes] = []
        header = {
            "engine": STATS_ENGINE_VERSION,
            "config": self.config.to_dict(),
            "config_id": self.config.config_id,
            "fragment": [self.fragment_index, self.fragment_span, self.fragment_count],
            "rows": self.rows,
            "data_id": self.data_id,
            "source_kind": self.source_kind,
            "names": self.names,
            "dtypes": self.dtypes,
            "notes": self.notes,
            "build_seconds": self.build_seconds,
            "column_groups": self.column_groups,
            "window": _pack(self.window, blobs),
            "columns": _pack(self.columns, blobs),
        }
        text = dumps({**header, "blobs": [len(b) for b in blobs]})
        payload = b"".join([struct.pack("<Q", len(text)), text, *blobs])
        compressed = pa.compress(payload, codec=_CODEC, asbytes=True)
        size = struct.pack("<Q", len(payload))
        digest = blake3.blake3(size + compressed).digest()
        return _PREFIX.pack(_MAGIC, FORMAT_VERSION, digest, len(payload)) + compressed

    @classmethod
    def from_bytes(cls, data: bytes) -> PartialStats:
        """The partial ``to_bytes`` wrote; anything else raises ``PartialStatsError``.

        The checksum detects damage in transit or at rest; it is no signature, so
        read partials only from where you would read the data itself.
        """
        data = bytes(data)
        if len(data) < _PREFIX.size or data[:4] != _MAGIC:
            raise PartialStatsError("not partial stats: the bytes do not start with their marker")
        _, version, digest, size = _PREFIX.unpack_from(data)
        if version != FORMAT_VERSION:
            raise PartialStatsError(
                f"partial stats in format version {version}; this version reads {FORMAT_VERSION} only"
            )
        if blake3.blake3(data[_PREFIX.size - 8 :]).digest() != digest:
            raise PartialStatsError("partial stats are damaged: their checksum does not match")
        try:
            payload = pa.decompress(data[_PREFIX.size :], size, codec=_CODEC, asbytes=True)
            (length,) = struct.unpack_from("<Q", payload)
            header = loads(payload[8 : 8 + length])
            engine = header["engine"]
        except Exception as exc:  # a checksum over bytes that were never ours
            raise PartialStatsError(f"partial stats could not be decoded: {exc}") from exc
        if engine != STATS_ENGINE_VERSION:
            raise PartialStatsError(
                f"partial stats from stats engine version {engine}; this engine is "
                f"version {STATS_ENGINE_VERSION}: rebuild the fragment"
            )
        try:
            blobs, offset = [], 8 + length
            for blob_length in header["blobs"]:
                blobs.append(memoryview(payload)[offset : offset + blob_length])
                offset += blob_length
            config = StatsConfig.from_dict(header["config"])
            if config.config_id != header["config_id"] or offset != len(payload):
                raise ValueError("its config or its layout does not add up")
            index, span, count = header["fragment"]
            window, columns = _unpack(header["window"], blobs), _unpack(header["columns"], blobs)
            if not len(window.schema) == len(columns) == len(header["names"]) == len(header["dtypes"]):
                raise ValueError("its columns do not add up")
            return cls(
                config=config,
                fragment_index=index,
                fragment_span=span,
                fragment_count=count,
                rows=header["rows"],
                window=window,
                names=header["names"],
                dtypes=header["dtypes"],
                notes=header["notes"],
                columns=columns,
                source_kind=header["source_kind"],
                data_id=header["data_id"],
                build_seconds=header["build_seconds"],
                column_groups=header["column_groups"],
            )
        except Exception as exc:
            raise PartialStatsError(f"partial stats could not be decoded: {exc}") from exc


def build_partial(
    source: Any,
    *,
    fragment: tuple[int, int] = (0, 1),
    split: bool = True,
    config: StatsConfig | None = None,
    data_id: str | None = None,
    storage_options: dict | None = None,
) -> PartialStats:
    """The unfinished stats of one fragment of a dataset, for ``merge_partials``.

    ``fragment=(index, count)``: with ``split`` (the default), ``source`` is the
    whole dataset and this summarises its ``index``-th of ``count`` row ranges
    (``fragment_rows``: as even as they go, the same for every config). With ``split=False``,
    ``source`` is itself the ``index``-th of ``count`` pieces (files, frames) of
    the dataset, in row order, and is summarised whole. ``data_id`` names the
    dataset the fragment belongs to; ``merge_partials`` refuses fragments of another.
    """
    config = config or StatsConfig()
    index, count = _position(fragment)
    if data_id is not None:
        validate_data_id(data_id)
    started = time.perf_counter()
    opened = open_source(source, storage_options=storage_options)
    row_range = None
    if split and count > 1:
        rows = opened.rows_total
        if rows is None:
            if opened.kind == "pyarrow-stream":
                raise PartialStatsError(
                    "a RecordBatchReader can be read only once, so it cannot be split: "
                    "pass each piece with split=False"
                )
            rows = sum(batch.num_rows for batch in opened.batches(config.block_rows, None))
        row_range = fragment_rows(index, count, rows, opened.row_groups)
    scan = scan_source(opened, config, None, started, row_range=row_range, keep_state=True)
    # A range that starts past the first window has none of its rows.
    window_rows = config.window_rows - (0 if row_range is None else row_range[0])
    return PartialStats(
        config=config,
        fragment_index=index,
        fragment_span=1,
        fragment_count=count,
        rows=scan.rows,
        window=scan.window.slice(0, max(window_rows, 0)),
        names=opened.names,
        dtypes=opened.dtypes,
        notes=dict(opened.notes),
        columns=scan.states,
        source_kind=opened.kind,
        data_id=data_id,
        build_seconds=round(time.perf_counter() - started, 6),
        column_groups=scan.groups,
    )


def merge_partials(
    partials: Sequence[PartialStats], *, data_id: str, config: StatsConfig | None = None
) -> Bundle:
    """The bundle of a dataset from the partials of all its fragments, each exactly once.

    Refused with ``PartialStatsError``: a fragment missing or repeated, or one built
    under another config (or ``config``, when given), schema or ``data_id``.
    """
    validate_data_id(data_id)
    started = time.perf_counter()
    whole = PartialStats.combine(partials)
    if whole.fragment_index != 0 or whole.fragment_span != whole.fragment_count:
        covered = f"{whole.fragment_index}..{whole.fragment_index + whole.fragment_span - 1}"
        raise PartialStatsError(
            f"fragments {covered} of {whole.fragment_count} given: every fragment is needed"
        )
    if config is not None and config != whole.config:
        raise PartialStatsError(
            f"the partials were built with config {whole.config.config_id}, not {config.config_id}"
        )
    if whole.data_id is not None and whole.data_id != data_id:
        raise PartialStatsError(f"the partials are fragments of {whole.data_id!r}, not {data_id!r}")
    results = [
        _restored(field.type, name, whole.config, state).result()
        for field, name, state in zip(whole.schema, whole.names, whole.columns, strict=True)
    ]
    meta = {
        "data_id": data_id,
        "config_id": whole.config.config_id,
        "rows": whole.rows,
        "columns": len(whole.schema),
        "column_groups": whole.column_groups,
        "source_kind": whole.source_kind,
        "build_seconds": round(whole.build_seconds + time.perf_counter() - started, 6),
        "fragments": whole.fragment_count,
        "producer": producer(),
    }
    stats = stats_entries(whole.schema, whole.names, whole.dtypes, whole.notes, whole.config, results)
    return Bundle(data_id=data_id, config=whole.config, stats=stats, first_window=whole.window, meta=meta)


def fragment_rows(
    index: int, count: int, rows: int, row_groups: list[int] | None = None
) -> tuple[int, int]:
    """Rows [start, stop) of fragment ``index`` of ``count``.

    With at least ``count`` Parquet row groups, each fragment is a run of whole
    row groups (as many each as they go), so it decodes no row it does not
    summarise; otherwise the ranges are even row ranges. They depend on the data
    alone, never on the config (not the block size): partials built apart, under
    configs with one config_id, must tile the same rows.
    """
    if row_groups is not None and len(row_groups) >= count:
        bounds = [0, *itertools.accumulate(row_groups)]
        groups = len(row_groups)
        return bounds[index * groups // count], bounds[(index + 1) * groups // count]
    return index * rows // count, (index + 1) * rows // count


def folder_files(source: str, *, storage_options: dict | None = None) -> list[tuple[str, str]]:
    """(path relative to ``source``, URL) of every data file below a folder or prefix, by path.

    The pieces of a dataset written as many files, in the order their paths sort.
    Files and folders whose names start with ``.`` or ``_`` (``_SUCCESS``,
    ``_metadata``, hidden files) are skipped, as pyarrow datasets skip them.
    """
    import fsspec.core

    fs, root = fsspec.core.url_to_fs(source, **(storage_options or {}))
    prefix = root.rstrip("/") + "/"
    found = []
    for path, info in fs.find(root, withdirs=False, detail=True).items():
        relative = path[len(prefix) :] if path.startswith(prefix) else path
        if info.get("type") == "directory" or any(
            part.startswith((".", "_")) for part in relative.split("/")
        ):
            continue
        found.append((relative, fs.unstrip_protocol(path)))
    return sorted(found)


def fragments_data_id(fragments: Sequence[tuple[str, str]]) -> str:
    """The data_id of a dataset made of fragments: ``frag-`` and a digest of its ordered
    (fragment id, content id) pairs, so it changes when any fragment is added, removed,
    moved or changed."""
    digest = new_hash(b"fragments:v1")
    for fragment_id, content_id in fragments:
        framed(digest, json_bytes([fragment_id, content_id]))
    return "frag-" + digest.hexdigest()


def _position(fragment: Any) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in fragment)
    except (TypeError, ValueError):
        raise PartialStatsError(f"fragment must be (index, count), got {fragment!r}") from None
    if not 0 <= index < count:
        raise PartialStatsError(f"fragment index must be in 0..{count - 1}, got {fragment!r}")
    return index, count


def _in_order(partials: Sequence[PartialStats]) -> list[PartialStats]:
    """Partials by position, refused unless they are consecutive fragments of one dataset."""
    if not partials:
        raise PartialStatsError("no partial stats to merge")
    ordered = sorted(partials, key=lambda p: p.fragment_index)
    first = ordered[0]
    labels = dumps(first.names)
    types = [f.type for f in first.schema]
    expected = first.fragment_index
    for part in ordered:
        where = f"fragment {part.fragment_index}"
        if part.fragment_count != first.fragment_count:
            raise PartialStatsError(
                f"{where} is one of {part.fragment_count}, the others of {first.fragment_count}"
            )
        if part.fragment_index != expected:
            problem = "missing" if part.fragment_index > expected else "given more than once"
            which = expected if part.fragment_index > expected else part.fragment_index
            raise PartialStatsError(f"fragment {which} of {first.fragment_count} is {problem}")
        expected += part.fragment_span
        if part.config != first.config:
            raise PartialStatsError(
                f"{where} was built with config {part.config.config_id}, "
                f"fragment {first.fragment_index} with {first.config.config_id}"
            )
        if dumps(part.names) != labels or [f.type for f in part.schema] != types:
            raise PartialStatsError(f"{where} has other columns or types than fragment {first.fragment_index}")
        if None not in (part.data_id, first.data_id) and part.data_id != first.data_id:
            raise PartialStatsError(f"{where} belongs to {part.data_id!r}, not {first.data_id!r}")
    return ordered


def _restored(arrow_type: pa.DataType, label: Hashable, config: StatsConfig, state: dict) -> ColumnAccumulator:
    accumulator = new_accumulator(arrow_type, label, config)
    accumulator.restore(state)
    return accumulator


def _merged_state(arrow_type: pa.DataType, label: Hashable, config: StatsConfig, states: list[dict]) -> dict:
    """States of one column in row order, merged into one."""
    merged = _restored(arrow_type, label, config, states[0])
    for state in states[1:]:
        merged.merge(_restored(arrow_type, label, config, state))
    return merged.state()


def _pack(value: Any, blobs: list[bytes]) -> Any:
    """``value`` with its arrays and tables moved to ``blobs`` (raw numpy bytes, Arrow IPC)."""
    if isinstance(value, np.ndarray):
        blobs.append(np.ascontiguousarray(value).tobytes())
        return {"$ndarray": [value.dtype.str, len(blobs) - 1]}
    if isinstance(value, pa.Array | pa.Table):
        table = value if isinstance(value, pa.Table) else pa.table({"v": value})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        blobs.append(sink.getvalue().to_pybytes())
        return {"$arrow": [isinstance(value, pa.Table), len(blobs) - 1]}
    if isinstance(value, dict):  # state keys are str: sorted, blobs come in one order
        return {key: _pack(value[key], blobs) for key in sorted(value)}
    if isinstance(value, list):
        return [_pack(item, blobs) for item in value]
    return value


def _unpack(value: Any, blobs: list[memoryview]) -> Any:
    if isinstance(value, dict):
        if "$ndarray" in value:
            dtype, index = value["$ndarray"]
            return np.frombuffer(blobs[index], dtype=np.dtype(dtype))
        if "$arrow" in value:
            is_table, index = value["$arrow"]
            table = pa.ipc.open_stream(pa.py_buffer(blobs[index])).read_all()
            return table if is_table else table.column(0).combine_chunks()
        return {key: _unpack(item, blobs) for key, item in value.items()}
    if isinstance(value, list):
        return [_unpack(item, blobs) for item in value]
    return value
