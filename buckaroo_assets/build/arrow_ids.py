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


def _canonical_block(arr: Any) -> Any:
    """Undo top-level encodings that can differ for equal values."""
    import pyarrow as pa

    t = arr.type
    if pa.types.is_dictionary(t):
        # Views first: Arrow has no kernel to take from a dictionary of string or binary views.
        arr = pa.DictionaryArray.from_arrays(arr.indices, _canonical_block(arr.dictionary))
        arr = arr.dictionary_decode()
        t = arr.type
    if t == pa.string_view():
        arr = arr.cast(pa.large_string())
    elif t == pa.binary_view():
        arr = arr.cast(pa.large_binary())
    return arr


def arrow_column_digest(column: Any, num_rows: int) -> bytes:
    """Null mask and values of a column, block by canonical block: never the chunking.

    Fixed-width values and strings hash straight from their buffers (lengths
    and bytes); other types through Arrow's IPC encoding of each block.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    masks = new_hash()
    values = new_hash()
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
        pieces = _buffer_pieces(block)
        if pieces is not None:
            for piece in pieces:
                framed(values, piece)
            continue
        if writer is None:
            schema = pa.schema([pa.field("v", block.type)])
            writer = pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), schema, options=options)
        writer.write_batch(pa.record_batch([block], names=["v"]))
    if writer is not None:
        writer.close()
    return masks.digest() + values.digest() + sink.hash.digest()


def _buffer_pieces(block: Any) -> list[Any] | None:
    """The bytes that define a null-free block's values, where its buffers hold them plainly."""
    import numpy as np
    import pyarrow as pa

    t = block.type
    if pa.types.is_boolean(t):
        return [block.to_numpy(zero_copy_only=False).view(np.uint8).tobytes()]
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)) and t.bit_width % 8 == 0:
        width = t.bit_width // 8
        data = memoryview(block.buffers()[1])
        return [data[block.offset * width : (block.offset + len(block)) * width]]
    plain = {pa.string(): np.int32, pa.binary(): np.int32, pa.large_string(): np.int64, pa.large_binary(): np.int64}
    if t in plain:
        offsets = np.frombuffer(block.buffers()[1], dtype=plain[t])[block.offset : block.offset + len(block) + 1]
        lengths = np.diff(offsets).astype(np.int64)
        data = block.buffers()[2]
        body = memoryview(data)[int(offsets[0]) : int(offsets[-1])] if data is not None else b""
        return [lengths.tobytes(), body]
    return None


def arrow_id(table: Any) -> str:
    h = new_hash(b"arrow:v2")
    schema = [[f.name, str(f.type), f.nullable] for f in table.schema]
    framed(h, json_bytes([table.num_rows, schema]))
    for column in table.columns:
        framed(h, arrow_column_digest(column, table.num_rows))
    return "arrow-" + h.hexdigest()
