"""Turn whatever the caller has into one streaming shape: schema + record batches.

Files are streamed (Parquet by row groups, CSV and JSON lines by blocks), never
loaded whole; in-memory frames are sliced without copies. Parquet string
columns are read dictionary-encoded when the file stores them that way, which
is both cheaper to decode and cheaper to count.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..bundle.columns import pandas_dtypes
from ..errors import UnsupportedSourceError
from .arrow_checks import first_bad_text_row, holds_text, is_plain_ascii, nesting, with_known_zones
from .faults import MAX_NESTING, column_fault, is_damage, source_name, unreadable
from .file_ids import refuse_special_file
from .pandas_frames import pandas_table
from .polars_frames import polars_table

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
READ_BUFFER_BYTES = 1 << 20  # per column, local files
REMOTE_READ_BUFFER_BYTES = 8 << 20  # per column, object stores: fewer, larger requests
SMALL_DICTIONARY_BYTES = 64 << 10  # a dictionary page this small: a low-cardinality column


@dataclass
class Source:
    """A table to summarise: its columns and a one-shot batch stream."""

    schema: pa.Schema  # the types as the caller will see them in the window
    names: list[Hashable]  # original labels, any hashable, duplicates allowed
    dtypes: list[str]  # what Buckaroo shows as each column's dtype
    # (batch_rows, column positions or None for all) -> stream of those columns
    batches: Callable[[int, list[int] | None], Iterator[pa.RecordBatch]]
    kind: str
    name: str = ""  # what error messages call the source: its path or URL, or its kind
    notes: dict[int, str] = field(default_factory=dict)  # column position -> treatment note
    rows_total: int | None = None  # known up front for tables and Parquet: progress shows an ETA
    # Bytes per row of each column, where the source can also be read a few columns at a
    # time (tables, Parquet): a wide table is then summarised in groups of columns.
    column_bytes: list[float] | None = None
    # True: ``batches(rows, columns, start=n)`` begins at row n without decoding the rows
    # before it (Parquet skips whole row groups), so a fragment reads only its own range.
    seekable: bool = False
    # True: reading a column means decoding it (Parquet), work that column groups
    # read side by side share between cores.
    decodes_columns: bool = False
    # Rows of each Parquet row group, in order across files: where a row range can
    # begin and end without decoding rows outside it.
    row_groups: list[int] | None = None


def open_source(source: Any, *, storage_options: dict | None = None) -> Source:
    """The source as a schema and a batch stream, its columns checked (see :func:`_checked`).

    A file whose bytes are damaged is an ``UnreadableSourceError``; a column
    no bundle can hold an ``UnsupportedColumnError`` naming it. An opened
    ``Source`` is returned as it is: a frame is converted to Arrow once even
    when it is read twice (first rows, then the build).
    """
    if isinstance(source, Source):
        return source
    opened = _open(source, storage_options or {})
    opened.name = source_name(source)
    return _checked(opened)


def _open(source: Any, storage_options: dict) -> Source:
    package = type(source).__module__.partition(".")[0]
    if isinstance(source, pa.RecordBatch):
        return _from_table(pa.Table.from_batches([source]), "pyarrow")
    if isinstance(source, pa.Table):
        return _from_table(source, "pyarrow")
    if isinstance(source, pa.RecordBatchReader):
        return _from_reader(source)
    if package == "pyarrow" and hasattr(source, "scanner"):
        return _from_dataset(source)
    if package == "pandas" and hasattr(source, "iloc"):
        return _from_pandas(source)
    if package == "polars" and hasattr(source, "to_arrow"):
        table, notes = polars_table(source, oldest=False)
        opened = _from_table(table, "polars")
        opened.notes = notes
        return opened
    if isinstance(source, str | os.PathLike):
        url = os.fspath(source)
        try:
            return _from_path(url, storage_options)
        except Exception as exc:
            if is_damage(exc):
                raise unreadable(url, exc) from exc
            raise
    raise UnsupportedSourceError(
        f"cannot build a bundle from {type(source).__module__}.{type(source).__qualname__}; "
        "pass a pandas/polars DataFrame, a pyarrow Table/RecordBatchReader/Dataset, "
        "or a Parquet/CSV/JSON-lines path or URL"
    )


def _checked(source: Source) -> Source:
    """Refuse what no bundle can hold, before a row is read; check what readers leave unchecked.

    A column nested deeper than ``MAX_NESTING`` levels cannot be stored. A
    timestamp whose zone this system does not know is shown in UTC (its
    values are UTC instants; the zone only says how to show them), with a
    note. Every batch's text is checked to be UTF-8 (Parquet and JSON readers
    do not check), and a reader's complaint about damaged bytes names the source.
    """
    retyped: dict[int, pa.DataType] = {}
    for position, (column, label) in enumerate(zip(source.schema, source.names, strict=True)):
        levels = nesting(column.type, MAX_NESTING)
        if levels > MAX_NESTING:
            raise column_fault(
                source.name, label, position, str(column.type),
                f"nests more than {MAX_NESTING} levels of lists, structs or maps; a bundle stores at most {MAX_NESTING}",
            )  # fmt: skip
        unknown: set[str] = set()
        shown = with_known_zones(column.type, unknown)
        if unknown:
            retyped[position] = shown
            zones = ", ".join(sorted(unknown))
            note = f"time zone {zones} unknown here: shown in UTC"
            source.notes[position] = "; ".join(filter(None, (source.notes.get(position), note)))
    stored = source.schema
    for position, shown in retyped.items():
        source.schema = source.schema.set(position, source.schema.field(position).with_type(shown))
    read = source.batches

    def batches(rows: int, columns: list[int] | None, **start: int) -> Iterator[pa.RecordBatch]:
        positions = range(len(stored)) if columns is None else columns
        return _checked_batches(
            source, stored, list(positions), read(rows, columns, **start), retyped
        )

    source.batches = batches
    return source


def _checked_batches(
    source: Source,
    stored: pa.Schema,
    positions: list[int],
    batches: Iterator[pa.RecordBatch],
    retyped: dict[int, pa.DataType],
) -> Iterator[pa.RecordBatch]:
    text = [slot for slot, position in enumerate(positions) if holds_text(stored.field(position).type)]
    shown = {slot: retyped[p] for slot, p in enumerate(positions) if p in retyped}
    done = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:
            if is_damage(exc):
                raise unreadable(source.name, exc) from exc
            raise
        for slot in text:
            _check_text(source, stored, positions[slot], batch.column(slot), done)
        for slot, target in shown.items():  # same buffers, zone relabelled
            column = batch.column(slot).view(target)
            batch = batch.set_column(slot, batch.schema.field(slot).with_type(target), column)
        done += batch.num_rows
        yield batch


def _check_text(source: Source, stored: pa.Schema, position: int, column: pa.Array, done: int) -> None:
    """Arrow's full validation, which checks UTF-8; a failure names the column and the row."""
    try:
        if is_plain_ascii(column):
            return
        column.validate(full=True)
    except pa.ArrowInvalid as exc:
        row = first_bad_text_row(column)
        reason = " ".join(str(exc).split())
        problem = (
            f"holds invalid data ({reason})"
            if row is None
            else f"row {done + row} holds text that is not valid UTF-8; read it as binary or repair it"
        )
        label = source.names[position]
        raise column_fault(source.name, label, position, str(stored.field(position).type), problem) from None


def _from_table(table: pa.Table, kind: str) -> Source:
    names: list[Hashable] = list(table.column_names)

    def batches(rows: int, columns: list[int] | None) -> Iterator[pa.RecordBatch]:
        chosen = table if columns is None else table.select(columns)
        return iter(chosen.to_batches(max_chunksize=rows))

    return Source(
        schema=table.schema,
        names=names,
        dtypes=pandas_dtypes(table.schema),
        batches=batches,
        kind=kind,
        rows_total=table.num_rows,
        column_bytes=[c.nbytes / max(table.num_rows, 1) for c in table.columns],
    )


def _from_reader(reader: pa.RecordBatchReader) -> Source:
    return Source(
        schema=reader.schema,
        names=list(reader.schema.names),
        dtypes=pandas_dtypes(reader.schema),
        batches=lambda rows, columns: iter(reader),
        kind="pyarrow-stream",
    )


def _from_dataset(dataset: Any) -> Source:
    return Source(
        schema=dataset.schema,
        names=list(dataset.schema.names),
        dtypes=pandas_dtypes(dataset.schema),
        batches=lambda rows, columns: iter(dataset.scanner(batch_size=rows).to_batches()),
        kind="pyarrow-dataset",
        rows_total=dataset.count_rows(),
    )


def _from_pandas(frame: Any) -> Source:
    table, names, notes = pandas_table(frame)
    source = _from_table(table, "pandas")
    source.names = names
    source.dtypes = [str(frame.dtypes.iloc[i]) for i in range(frame.shape[1])]
    source.notes = notes
    return source


def _from_path(url: str, storage_options: dict) -> Source:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **storage_options)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file or directory: {url}") from None
    refuse_special_file(info, url)
    lowered = path.lower()
    if fs.isdir(path) or lowered.endswith(PARQUET_SUFFIXES):
        return _from_parquet(fs, path)
    if lowered.endswith(CSV_SUFFIXES):
        return _from_text(fs, path, "csv")
    if lowered.endswith(JSONL_SUFFIXES):
        return _from_text(fs, path, "jsonl")
    raise UnsupportedSourceError(
        f"cannot tell the format of {url!r} from its name; expected one of "
        f"{', '.join(PARQUET_SUFFIXES + CSV_SUFFIXES + JSONL_SUFFIXES)} or a Parquet folder"
    )


def _arrow_filesystem(fs: Any) -> Any:
    from pyarrow.fs import FSSpecHandler, LocalFileSystem, PyFileSystem

    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "file" in protocols or "local" in protocols:
        return LocalFileSystem()
    return PyFileSystem(FSSpecHandler(fs))


def _from_parquet(fs: Any, path: str) -> Source:
    import pyarrow.dataset as ds

    filesystem = _arrow_filesystem(fs)
    dataset = ds.dataset(path, format="parquet", filesystem=filesystem)
    schema = dataset.schema
    fragments = list(dataset.get_fragments())
    rows_total, column_bytes, text = _parquet_layout(fragments, schema)
    # Each footer parsed once: a wide file's footer costs more to parse than a group
    # of its columns to decode (2,000 columns: 15 ms a parse), and every group reads it.
    footers = [fragment.metadata for fragment in fragments]
    names = schema.names
    same_schema: set[int] = set()  # fragments already checked, once for all groups
    paths: list[Any] = []  # the column-path index of the first file opened, for the others

    def stream(
        batch_rows: int, columns: list[int] | None, start: int = 0
    ) -> Iterator[pa.RecordBatch]:
        chosen = None if columns is None else [names[i] for i in columns]
        for number, (fragment, footer) in enumerate(zip(fragments, footers, strict=True)):
            groups = [footer.row_group(g).num_rows for g in range(footer.num_row_groups)]
            first = 0  # row groups wholly before ``start`` are skipped, never decoded
            while first < len(groups) and groups[first] <= start:
                start -= groups[first]
                first += 1
            if first == len(groups):
                continue
            if number not in same_schema:
                if not fragment.physical_schema.equals(schema):
                    raise UnsupportedSourceError(
                        f"{fragment.path} does not have the same schema as the rest of {path}"
                    )
                same_schema.add(number)
            with _open_for_columns(fs, filesystem, fragment.path) as handle:
                # Without pre-buffering, and with a bounded read buffer, the
                # reader holds a few megabytes per column instead of whole
                # column chunks: memory stays flat as files and row groups grow.
                reader = _parquet_file_type()(
                    handle,
                    metadata=footer,
                    read_dictionary=text,
                    pre_buffer=False,
                    buffer_size=_read_buffer(filesystem),
                    paths=paths[0] if paths else None,
                )
                if not paths:
                    paths.append(reader.paths)
                # One decoding thread: the stats workers keep the other cores busy,
                # and fewer allocating threads fragment memory less.
                batches = reader.iter_batches(
                    batch_size=batch_rows,
                    row_groups=range(first, len(groups)),
                    columns=chosen,
                    use_threads=False,
                )
                for batch in batches:
                    if start < batch.num_rows:
                        yield batch.slice(start)
                    start = max(start - batch.num_rows, 0)

    return Source(
        schema=schema,
        names=list(schema.names),
        dtypes=pandas_dtypes(schema),
        batches=stream,
        kind="parquet",
        rows_total=rows_total,
        column_bytes=column_bytes,
        seekable=True,
        decodes_columns=True,
        row_groups=[footer.row_group(g).num_rows for footer in footers for g in range(footer.num_row_groups)],
    )


@functools.cache
def _parquet_file_type() -> type:
    """``pq.ParquetFile`` that can be handed the index of its columns' paths.

    pyarrow builds that index in Python on every open, over every column and
    holding the interpreter lock: 0.8 ms for 2,000 columns, opened once per
    column group (42 groups), which was a fifth of the lock's time in that
    build. It depends only on the schema, which every file of a source shares
    (checked before reading), so it is built once per source.
    """
    import pyarrow.parquet as pq

    class ParquetFileOfKnownPaths(pq.ParquetFile):
        def __init__(self, *args: Any, paths: Any = None, **kwargs: Any) -> None:
            self.paths = paths
            super().__init__(*args, **kwargs)

        def _build_nested_paths(self) -> Any:
            if self.paths is None:
                self.paths = super()._build_nested_paths()
            return self.paths

    return ParquetFileOfKnownPaths


def _open_for_columns(fs: Any, filesystem: Any, path: str) -> Any:
    """A file for reading column chunks, which jump around the file.

    fsspec files read ahead by default (50 MB blocks for S3): each jump to
    another column would fetch a whole block, several times the file in all.
    Remote files are opened without that cache, so each read is one ranged GET.
    """
    from pyarrow.fs import LocalFileSystem

    if isinstance(filesystem, LocalFileSystem):
        return filesystem.open_input_file(path)
    return pa.PythonFile(fs.open(path, "rb", cache_type="none"), mode="r")


def _read_buffer(filesystem: Any) -> int:
    from pyarrow.fs import LocalFileSystem

    return READ_BUFFER_BYTES if isinstance(filesystem, LocalFileSystem) else REMOTE_READ_BUFFER_BYTES


def _parquet_layout(
    fragments: list[Any], schema: pa.Schema
) -> tuple[int, list[float] | None, list[str]]:
    """From the files' footers, in one pass: rows, decoded bytes per row of each
    column, and the text columns worth reading as dictionaries.

    Text is read dictionary-encoded only where every row group's dictionary
    page is small: a low-cardinality column is then counted by index, which is
    cheap. A high-cardinality one overflowed its writer's dictionary and fell
    back to plain pages; reading it as a dictionary would make Arrow build a
    dictionary of every value (measured: 3.3 s instead of 0.4 s to decode 2M
    rows of UUIDs, e-mails and text).
    """
    names = schema.names
    sizes = dict.fromkeys(names, 0)
    small = {f.name for f in schema if _is_text(f.type)}
    rows = 0
    for fragment in fragments:
        metadata = fragment.metadata
        rows += metadata.num_rows
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            flat = row_group.num_columns == len(names)  # one leaf per column
            for column in range(row_group.num_columns):
                chunk = row_group.column(column)
                top = names[column] if flat else chunk.path_in_schema.split(".")[0]
                if top in sizes:
                    sizes[top] += chunk.total_uncompressed_size
                page = chunk.data_page_offset - (chunk.dictionary_page_offset or 0)
                if not chunk.has_dictionary_page or page > SMALL_DICTIONARY_BYTES:
                    small.discard(chunk.path_in_schema)
    # Columns are read by name: with duplicate names, no group can be told apart.
    column_bytes = None if len(set(names)) != len(names) else [sizes[n] / max(rows, 1) for n in names]
    return rows, column_bytes, [name for name in names if name in small]


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)


def _from_text(fs: Any, path: str, fmt: str) -> Source:
    compression = "gzip" if path.lower().endswith(".gz") else None

    def open_reader() -> pa.RecordBatchReader:
        handle = fs.open(path, "rb", compression=compression)
        if fmt == "csv":
            import pyarrow.csv as csv

            delimiter = "\t" if ".tsv" in path.lower() else ","
            return csv.open_csv(
                handle,
                read_options=csv.ReadOptions(block_size=8 << 20),
                parse_options=csv.ParseOptions(delimiter=delimiter),
            )
        import pyarrow.json as pj

        return pj.open_json(handle, read_options=pj.ReadOptions(block_size=8 << 20))

    schema = open_reader().schema
    return Source(
        schema=schema,
        names=list(schema.names),
        dtypes=pandas_dtypes(schema),
        batches=lambda rows, columns: iter(open_reader()),
        kind=fmt,
    )
