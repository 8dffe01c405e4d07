"""The on-store form of a bundle: one packed object of parts, and a manifest that commits it.

A bundle is stored as two objects, so a reader needs two GETs and no LIST:

* the **pack**, named by the SHA-256 of its bytes, the concatenation of the
  parts — ``stats`` (type-tagged JSON, see :mod:`buckaroo_assets.codec`) and
  ``window`` (the first rows as Parquet, or Arrow IPC for the rare types
  Parquet cannot hold);
* the **manifest**, written last: format version, identity, config, schema,
  meta, and the offset, size and SHA-256 of every part, sealed by a checksum
  of its own canonical encoding.

Everything read back is verified before a :class:`Bundle` is made from it;
any disagreement raises :class:`BundleCorrupted`, never returns wrong data.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..bundle import codec
from ..bundle.columns import column_key
from ..bundle.config import StatsConfig
from ..bundle.ids import validate_data_id
from ..bundle.model import Bundle
from ..errors import BundleCorrupted, BundleMismatch, UnsafeDataIdError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Packed",
    "pack_bundle",
    "read_manifest",
    "read_window",
    "schema_b64",
    "unpack_bundle",
    "window_bytes",
]

FORMAT_NAME = "buckaroo-assets.bundle"
FORMAT_VERSION = 1

_PARQUET = "application/vnd.apache.parquet"
_ARROW_STREAM = "application/vnd.apache.arrow.stream"
_JSON = "application/json"
_HEX32 = re.compile(r"[0-9a-f]{32}", re.ASCII)
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_PACK_NAME = re.compile(r"pack-[0-9a-f]{32}\.bin", re.ASCII)


@dataclass(frozen=True)
class Packed:
    """The two objects a bundle is stored as; ``pack_name`` is content-addressed."""

    manifest: bytes
    pack: bytes
    pack_name: str


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def window_bytes(window: pa.Table) -> tuple[bytes, str]:
    """Parquet under neutral column keys (labels may repeat or not be strings).

    Parquet cannot hold every Arrow type, and gives some back as another type
    (a dictionary of integers returns as plain integers); the window is read
    back once here, and whatever does not return as its own schema is stored
    as an Arrow IPC stream instead.
    """
    keyed = window.rename_columns([column_key(i) for i in range(window.num_columns)])
    keyed = keyed.replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(keyed, sink, compression="zstd", store_schema=True)
        data = sink.getvalue().to_pybytes()
        read_window(memoryview(data), _PARQUET, window.schema)
        return data, _PARQUET
    except (pa.ArrowException, OSError):  # Parquet's writer refuses some types with OSError
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, keyed.schema) as writer:
            writer.write_table(keyed)
        return sink.getvalue().to_pybytes(), _ARROW_STREAM


def schema_b64(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def pack_bundle(bundle: Bundle, *, dataset: str | None = None) -> Packed:
    """Serialise a bundle into its pack and the manifest that commits it."""
    validate_data_id(bundle.data_id)
    parts: list[tuple[str, bytes, str]] = [("stats", codec.dumps(bundle.stats), _JSON)]
    window, media_type = window_bytes(bundle.first_window)
    parts.append(("window", window, media_type))
    pack = b"".join(data for _, data, _ in parts)
    pack_name = f"pack-{_sha256(pack)[:32]}.bin"
    offset = 0
    listed = []
    for name, data, kind in parts:
        listed.append(
            {"name": name, "offset": offset, "size": len(data), "sha256": _sha256(data),
             "media_type": kind}
        )
        offset += len(data)
    schema = bundle.schema
    body = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "data_id": bundle.data_id,
        "config_id": bundle.config_id,
        "config": bundle.config.to_dict(),
        "dataset": dataset,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
        "rows": bundle.rows,
        "columns": len(bundle.stats),
        "window_rows": bundle.first_window.num_rows,
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "arrow_schema": schema_b64(schema),
        "meta": bundle.meta,
        "pack": {"name": pack_name, "size": len(pack)},
        "parts": listed,
    }
    manifest = dict(body, checksum=_sha256(codec.dumps(body)))
    return Packed(manifest=codec.dumps(manifest), pack=pack, pack_name=pack_name)


def read_manifest(raw: bytes, *, where: str) -> dict[str, Any]:
    """Parse and self-verify a manifest; a newer format is a mismatch, damage is corruption.

    The checksum catches accidents, not intent (anyone can re-seal a manifest),
    so every field is also checked for shape: a manifest can never make a
    reader open a path outside its bundle's folder or read outside its pack.
    """
    try:
        manifest = codec.loads(raw)
    except (codec.MalformedEncodingError, RecursionError) as exc:
        raise BundleCorrupted(f"{where}: manifest is not valid: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise BundleCorrupted(f"{where}: not a buckaroo-assets bundle manifest")
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    if manifest.get("checksum") != _sha256(codec.dumps(body)):
        raise BundleCorrupted(f"{where}: manifest checksum does not match its content")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleMismatch(
            f"{where}: bundle format version {version!r}; this reader reads version "
            f"{FORMAT_VERSION}",
            reason="format_version",
        )
    _check_fields(manifest, where)
    return manifest


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def _check_fields(manifest: dict[str, Any], where: str) -> None:
    def need(ok: object, name: str) -> None:
        if not ok:
            raise BundleCorrupted(f"{where}: manifest field {name!r} is missing or invalid")

    for name, what in (("data_id", "data_id"), ("dataset", "dataset name")):
        value = manifest.get(name)
        if name == "dataset" and value is None:
            continue
        try:
            validate_data_id(value, what=what)
        except UnsafeDataIdError:
            need(False, name)
    config_id = manifest.get("config_id")
    need(isinstance(config_id, str) and _HEX32.fullmatch(config_id), "config_id")
    for name in ("rows", "columns", "window_rows"):
        need(_count(manifest.get(name)), name)
    created_at = manifest.get("created_at")
    try:
        need(_dt.datetime.fromisoformat(created_at).tzinfo is not None, "created_at")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        need(False, "created_at")
    for name, kind in (("config", dict), ("meta", dict), ("schema", list), ("arrow_schema", str)):
        need(isinstance(manifest.get(name), kind), name)
    pack = manifest.get("pack")
    need(
        isinstance(pack, dict)
        and isinstance(pack.get("name"), str)
        and _PACK_NAME.fullmatch(pack["name"])
        and _count(pack.get("size")),
        "pack",
    )
    parts = manifest.get("parts")
    need(isinstance(parts, list), "parts")
    for part in parts:
        need(
            isinstance(part, dict)
            and isinstance(part.get("name"), str)
            and isinstance(part.get("media_type"), str)
            and _count(part.get("offset"))
            and _count(part.get("size"))
            and part["offset"] + part["size"] <= pack["size"]
            and isinstance(part.get("sha256"), str)
            and _HEX64.fullmatch(part["sha256"]),
            "parts",
        )


def _part(manifest: dict[str, Any], pack: bytes, name: str, where: str) -> tuple[memoryview, str]:
    for part in manifest["parts"]:
        if part["name"] == name:
            start, size = part["offset"], part["size"]
            data = memoryview(pack)[start : start + size]
            if len(data) != size or _sha256(data) != part["sha256"]:
                raise BundleCorrupted(f"{where}: part {name!r} fails its checksum")
            return data, part["media_type"]
    raise BundleCorrupted(f"{where}: manifest lists no part {name!r}")


def read_window(data: memoryview, media_type: str, schema: pa.Schema) -> pa.Table:
    """The window part as a table of the manifest's schema.

    Parquet gives a few types back in another form (``timestamp[s]`` as
    ``timestamp[ms]``), so columns are cast back; but only after the part's
    own record of its Arrow types (Parquet's ``ARROW:schema``, an IPC stream's
    schema) is found to equal the manifest's, so a manifest can never turn
    a column into another type by casting it.
    """
    buffer = pa.py_buffer(data)
    if media_type == _PARQUET:
        # ParquetFile.read, unlike read_table, does not import pandas on the reader path.
        file = pq.ParquetFile(pa.BufferReader(buffer))
        recorded = (file.metadata.metadata or {}).get(b"ARROW:schema")
        if recorded is None:
            raise BundleCorrupted("window part does not record its Arrow types")
        written = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(recorded)))
        # One thread: a window is small, and a load then leaves no Arrow worker busy when
        # the interpreter exits right after it.
        table = file.read(use_threads=False, use_pandas_metadata=False)
    elif media_type == _ARROW_STREAM:
        table = pa.ipc.open_stream(buffer).read_all()
        written = table.schema
    else:
        raise BundleCorrupted(f"window part has unknown media type {media_type!r}")
    if table.num_columns != len(schema) or len(written) != len(schema):
        raise BundleCorrupted("window columns do not match the manifest schema")
    if not all(w.type.equals(f.type) for w, f in zip(written, schema, strict=True)):
        raise BundleCorrupted("window column types do not match the manifest schema")
    columns = [
        col if col.type == field.type else col.cast(field.type)
        for col, field in zip(table.columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def unpack_bundle(manifest: dict[str, Any], pack: bytes, *, where: str) -> Bundle:
    """Verify the pack against the manifest and rebuild the bundle; any damage raises."""
    expected = manifest["pack"]["size"]
    if len(pack) != expected:
        raise BundleCorrupted(f"{where}: pack is {len(pack)} bytes, manifest says {expected}")
    try:
        stats_bytes, _ = _part(manifest, pack, "stats", where)
        window_bytes, media_type = _part(manifest, pack, "window", where)
        stats = codec.loads(bytes(stats_bytes))
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["arrow_schema"])))
        window = read_window(window_bytes, media_type, schema)
        config = StatsConfig.from_dict(manifest["config"])
    except BundleCorrupted:
        raise
    except (codec.MalformedEncodingError, pa.ArrowException, ValueError, TypeError, KeyError) as exc:
        raise BundleCorrupted(f"{where}: cannot decode bundle: {exc}") from None
    if config.config_id != manifest["config_id"]:
        raise BundleCorrupted(f"{where}: stored config does not hash to its config_id")
    if not isinstance(stats, dict) or len(stats) != manifest["columns"]:
        raise BundleCorrupted(f"{where}: stats do not cover the manifest's columns")
    # Canonical JSON sorts keys ("ba" before "c"): restore the columns' order.
    keys = [column_key(i) for i in range(len(stats))]
    if set(keys) != set(stats):
        raise BundleCorrupted(f"{where}: stats are not keyed by column position")
    stats = {key: stats[key] for key in keys}
    bundle = Bundle(
        data_id=manifest["data_id"],
        config=config,
        stats=stats,
        first_window=window,
        meta=manifest["meta"],
        dataset=manifest.get("dataset"),
        created_at=_dt.datetime.fromisoformat(manifest["created_at"]),
    )
    # The manifest describes what the pack holds; any disagreement is damage.
    meta = bundle.meta
    try:
        consistent = (
            window.num_columns == manifest["columns"]
            and window.num_rows == manifest["window_rows"]
            and bundle.rows == manifest["rows"]
            and meta.get("data_id", bundle.data_id) == bundle.data_id
            and meta.get("config_id", bundle.config_id) == bundle.config_id
        )
    except (TypeError, ValueError):  # meta's row count is not a number
        consistent = False
    if not consistent:
        raise BundleCorrupted(f"{where}: manifest disagrees with the bundle it names")
    return bundle
