"""data_ids of Arrow tables (and polars frames): values and schema, never the chunking.

pyarrow and polars are imported only when one of their values is hashed.
"""

from __future__ import annotations

from typing import Any

from .digests import framed, json_bytes, new_hash

ARROW_BLOCK_ROWS = 65_536  # canonical row blocks, so chunking never changes an id


class _HashSink:
    """A write-only file that hashes instead of storing, so IPC bytes never pile up in memory."""

    closed = False

    def __init__(self) -> None:
        self.hash = new_hash()

    def write(self, data: Any) -> int:
        self.hash.update(data)
        return memoryview(data).nbytes

    def flush(self) -> None:
        pass


def polars_to_arrow(df: Any) -> Any:
    import polars as pl

    try:  # the oldest layout avoids view types whose buffers vary with history
        return df.to_arrow(compat_level=pl.CompatLevel.oldest())
    except (AttributeError, TypeError):
        return df.to_arrow()


def _canonical_block(arr: Any) -> Any:
    """Undo top-level encodings that can differ for equal values."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if t == pa.string_view():
        arr = arr.cast(pa.large_string())
    elif t == pa.binary_view():
        arr = arr.cast(pa.large_binary())
    return arr


def _arrow_column_digest(column: Any, num_rows: int) -> bytes:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    masks = new_hash()
    sink = _HashSink()
    writer = None
    options = pa.ipc.IpcWriteOptions(compression=None, use_threads=False)
    for start in range(0, num_rows, ARROW_BLOCK_ROWS):
        block = _canonical_block(column.slice(start, ARROW_BLOCK_ROWS).combine_chunks())
        if block.null_count:
            valid = block.is_valid().to_numpy(zero_copy_only=False)
            framed(masks, np.packbits(valid).tobytes())
            if pa.types.is_null(block.type):
                continue
            block = pc.drop_null(block)
        else:
            framed(masks, b"")
        if writer is None:
            schema = pa.schema([pa.field("v", block.type)])
            writer = pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), schema, options=options)
        writer.write_batch(pa.record_batch([block], names=["v"]))
    if writer is not None:
        writer.close()
    return masks.digest() + sink.hash.digest()


def arrow_id(table: Any) -> str:
    h = new_hash(b"arrow:v1")
    schema = [[f.name, str(f.type), f.nullable] for f in table.schema]
    framed(h, json_bytes([table.num_rows, schema]))
    for column in table.columns:
        framed(h, _arrow_column_digest(column, table.num_rows))
    return "arrow-" + h.hexdigest()
