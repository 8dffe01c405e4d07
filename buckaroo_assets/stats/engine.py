"""Drive the per-column accumulators over a stream of record batches.

The stream is re-cut into canonical blocks of ``block_rows`` rows, so the
floating-point sums (and with them every stat) are identical however the
source happened to be chunked. A reader thread keeps at most two batches
ahead (bounded, so a fast source cannot outrun memory), and each block's
columns are summarised in parallel: numpy and Arrow kernels release the GIL.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from .accumulators import ColumnAccumulator

BlockCallback = Callable[[pa.RecordBatch], None]


def canonical_blocks(batches: Iterable[pa.RecordBatch], block_rows: int) -> Iterator[pa.RecordBatch]:
    """Re-cut any batch stream into blocks of exactly block_rows rows (the last may be short)."""
    pending: list[pa.RecordBatch] = []
    filled = 0
    for batch in batches:
        while batch.num_rows:
            take = min(block_rows - filled, batch.num_rows)
            pending.append(batch.slice(0, take))
            filled += take
            batch = batch.slice(take)
            if filled == block_rows:
                yield _concat(pending)
                pending, filled = [], 0
    if filled:
        yield _concat(pending)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)


def prefetch(batches: Iterable[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read ahead in a thread, holding at most ``depth`` batches; errors re-raise here."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        slots.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item: object = done
        except BaseException as error:  # handed to the consumer, which re-raises
            item = error
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    reader = threading.Thread(target=produce, name="buckaroo-assets-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def accumulate(
    batches: Iterable[pa.RecordBatch],
    accumulators: list[ColumnAccumulator],
    block_rows: int,
    on_block: BlockCallback | None = None,
    workers: int | None = None,
) -> int:
    """Feed every column of every block to its accumulator; returns the row count."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(accumulators) or 1))
    groups = [list(range(i, len(accumulators), workers)) for i in range(workers)]
    rows = 0

    def summarise(block: pa.RecordBatch, columns: list[int]) -> None:
        for i in columns:
            accumulators[i].update(block.column(i))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="buckaroo-assets-stats") as pool:
        for block in canonical_blocks(prefetch(batches), block_rows):
            if on_block is not None:
                on_block(block)
            rows += block.num_rows
            if workers == 1:
                summarise(block, groups[0])
            else:
                for future in [pool.submit(summarise, block, g) for g in groups]:
                    future.result()
    return rows
