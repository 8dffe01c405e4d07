"""Drive the per-column accumulators over a stream of record batches.

The stream is re-cut into blocks of ``block_rows`` rows: a source's tiny
batches are joined (fewer calls per column) and huge ones split (bounded
memory). The stats do not depend on that size: the accumulators keep exact
sums and see their column in fixed units (see ``column_accumulator``). A
reader thread keeps at most two blocks ahead (bounded, so a fast source cannot
outrun memory), and each block's columns are summarised in parallel: numpy,
Arrow and the C kernels release the GIL.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from .column_accumulator import ColumnAccumulator

BlockCallback = Callable[[pa.RecordBatch], None]
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def even_blocks(batches: Iterable[pa.RecordBatch], block_rows: int) -> Iterator[pa.RecordBatch]:
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


# Growth of resident memory over its lowest since the last return, before the cache goes back.
RETURN_SLACK_BYTES = 32 << 20


class _Settled:
    """The process's lowest resident memory since Arrow's cache last went back (or
    since the first block): column groups and builds that follow each other share
    it, so none starts from the cache the one before it left (each would allow
    ``slack`` more), and it follows memory down when data is freed."""

    bytes: int | None = None


def returning_freed_memory(
    blocks: Iterable[pa.RecordBatch], slack: int = RETURN_SLACK_BYTES, every: int = 4
) -> Iterator[pa.RecordBatch]:
    """Pass blocks through, handing Arrow's cached free pages back to the OS once they
    pile up.

    Readers and workers allocate and free blocks from several threads; the
    allocator keeps what they free for reuse, and over a long build that cache
    grows well past what is alive. Returning it keeps the peak near the live set,
    but every page returned is faulted in again by the next block: returning it
    every four blocks cost 10 to 25 % of a build. So it goes back only when the
    process's resident memory has grown by ``slack`` over its lowest since the
    last return (or, where the system does not say cheaply, every ``every`` blocks).
    """
    pool = pa.default_memory_pool()
    for count, block in enumerate(blocks, start=1):
        resident = resident_bytes()
        if resident is None:
            if count % every == 0:
                pool.release_unused()
        elif _Settled.bytes is None or resident < _Settled.bytes:
            _Settled.bytes = resident
        elif resident > _Settled.bytes + slack:
            pool.release_unused()
            _Settled.bytes = resident_bytes()
        yield block


def resident_bytes() -> int | None:
    """This process's resident memory, where the system tells it for one small read (Linux)."""
    try:
        with open("/proc/self/statm", "rb") as status:
            return int(status.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


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
    read_ahead: bool = True,
) -> tuple[int, list[dict[str, Any]]]:
    """Feed every column of every block to its accumulator, then finalise them all.

    Returns the row count and each column's stats. Columns are regrouped for
    every block by what they cost on the previous one, so that the workers
    finish a block together instead of waiting on one slow group. Without
    ``read_ahead`` the calling thread reads too: for callers that already run
    several streams side by side, where a reader thread each would only add
    blocks in flight and threads that allocate and free each other's memory.
    """
    workers = max(1, min(workers or os.cpu_count() or 1, len(accumulators) or 1))
    cost = [0.0] * len(accumulators)
    rows = 0

    def summarise(block: pa.RecordBatch, columns: list[int]) -> None:
        for i in columns:
            started = time.perf_counter()
            accumulators[i].update(block.column(i))
            cost[i] = time.perf_counter() - started

    # The reader thread also re-cuts the stream, so concatenating short batches
    # overlaps with the stats of the previous block.
    blocks = returning_freed_memory(even_blocks(batches, block_rows))
    if read_ahead:
        blocks = prefetch(blocks)
    if workers == 1:  # on the calling thread: no pool to start, no hand-offs per column
        everything = list(range(len(accumulators)))
        for block in blocks:
            if on_block is not None:
                on_block(block)
            rows += block.num_rows
            summarise(block, everything)
        return rows, [accumulator.result() for accumulator in accumulators]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="buckaroo-assets-stats") as pool:
        for block in blocks:
            if on_block is not None:
                on_block(block)
            rows += block.num_rows
            tasks = [pool.submit(summarise, block, group) for group in balanced_groups(cost, 4 * workers)]
            for task in tasks:
                task.result()
        results = list(pool.map(lambda accumulator: accumulator.result(), accumulators))
    return rows, results


def balanced_groups(cost: list[float], count: int) -> list[list[int]]:
    """Split positions into at most ``count`` groups of similar total cost, heaviest group first."""
    groups: list[list[int]] = [[] for _ in range(min(count, len(cost)))]
    loads = [0.0] * len(groups)
    for i in sorted(range(len(cost)), key=lambda i: -cost[i]):
        lightest = loads.index(min(loads))
        groups[lightest].append(i)
        loads[lightest] += cost[i]
    return [groups[g] for g in sorted(range(len(groups)), key=lambda g: -loads[g]) if groups[g]]
