"""The in-process bundle cache: LRU by bytes, one fetch per key, bounded fan-out.

Apps serve many requests for few datasets.  A hit must cost a dict lookup;
a burst of misses for one key must cost one fetch, not one per caller; and a
burst of misses for many keys must not open an unbounded number of requests
to the store — callers beyond the bound wait their turn, first come first
served, and give up after a timeout.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ..errors import BundleLoadTimeout

__all__ = ["BundleCache", "FifoLimiter"]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_FETCHES = 8
DEFAULT_TIMEOUT = 60.0


class FifoLimiter:
    """A counting semaphore that hands freed slots to waiters in arrival order."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"need at least one slot, got {slots}")
        self._free = slots
        self.slots = slots
        self._lock = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self.busy = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def acquire(self, timeout: float | None) -> None:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                self.busy += 1
                return
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return
        with self._lock:
            if turn.is_set():  # granted as the wait timed out: keep the slot
                return
            self._waiters.remove(turn)
        raise BundleLoadTimeout(
            f"no free fetch slot within {timeout} s ({self.slots} fetches already in flight)"
        )

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()  # the slot passes straight to the next caller
            else:
                self._free += 1
                self.busy -= 1


@dataclass
class _Counters:
    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    evictions: int = 0
    errors: int = 0


class BundleCache:
    """Values by key, bounded by their reported size in bytes; thread-safe."""

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_fetches: int = DEFAULT_MAX_FETCHES,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._inflight: dict[Hashable, Future[tuple[Any, int]]] = {}
        self._bytes = 0
        self.counters = _Counters()
        self.timeout = DEFAULT_TIMEOUT
        self.configure(max_bytes=max_bytes, max_fetches=max_fetches, timeout=timeout)

    def configure(
        self,
        *,
        max_bytes: int | None = None,
        max_fetches: int | None = None,
        timeout: float | None = None,
    ) -> None:
        """Change the bounds; shrinking ``max_bytes`` evicts at once."""
        with self._lock:
            if max_bytes is not None:
                if max_bytes < 0:
                    raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
                self.max_bytes = max_bytes
                self._evict()
            if max_fetches is not None:
                self._limiter = FifoLimiter(max_fetches)
            if timeout is not None:
                self.timeout = timeout

    def peek(self, key: Hashable) -> Any | None:
        """The cached value, counted as a hit, or None; never fetches."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            self.counters.hits += 1
            return found[0]

    def get(
        self,
        key: Hashable,
        fetch: Callable[[], tuple[Any, int]],
        *,
        use_cache: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """The value for ``key``: from memory, from a fetch already running, or fetched now.

        ``fetch`` returns ``(value, size_in_bytes)``.  With ``use_cache=False``
        the value is fetched afresh and not kept (still within the fetch bound).
        """
        timeout = self.timeout if timeout is None else timeout
        if not use_cache:
            return self._fetch(fetch, timeout)[0]
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.counters.hits += 1
                return found[0]
            running = self._inflight.get(key)
            if running is None:
                running = self._inflight[key] = Future()
                owner = True
                self.counters.misses += 1
            else:
                owner = False
                self.counters.coalesced += 1
        if not owner:
            try:
                return running.result(timeout)[0]
            except TimeoutError:
                if running.done():
                    raise  # the fetch itself timed out waiting for a slot
                raise BundleLoadTimeout(f"the running fetch of {key!r} took over {timeout} s") from None
        try:
            value, size = self._fetch(fetch, timeout)
        except BaseException as exc:
            with self._lock:
                self.counters.errors += 1
                del self._inflight[key]
            running.set_exception(exc)
            raise
        with self._lock:
            del self._inflight[key]
            if size <= self.max_bytes:
                previous = self._entries.pop(key, None)
                if previous is not None:
                    self._bytes -= previous[1]
                self._entries[key] = (value, size)
                self._bytes += size
                self._evict()
        running.set_result((value, size))
        return value

    def _fetch(self, fetch: Callable[[], tuple[Any, int]], timeout: float | None) -> Any:
        limiter = self._limiter
        limiter.acquire(timeout)
        try:
            return fetch()
        finally:
            limiter.release()

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._entries:
            _, (_, size) = self._entries.popitem(last=False)
            self._bytes -= size
            self.counters.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self.counters.hits,
                "misses": self.counters.misses,
                "coalesced": self.counters.coalesced,
                "evictions": self.counters.evictions,
                "errors": self.counters.errors,
                "fetches_in_flight": self._limiter.busy,
                "max_fetches": self._limiter.slots,
                "waiting": self._limiter.waiting,
                "timeout": self.timeout,
            }
