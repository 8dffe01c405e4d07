"""Steps whose run worker died: they notice at once, stop, and end their run.

Under the multiprocess executor each step is a child process of the run
worker: the ``dagster asset materialize`` process, or the run process a code
server starts for ``dagster dev`` and the daemon.  A run worker killed with
SIGKILL (or by the out-of-memory killer) tells nobody: its steps would go on
building for no one, and the run would stay STARTED, holding its slots in the
``buckaroo`` pool.  So a step process watches the process that started it
(its multiprocessing parent) and, when that is this run's worker and it is
gone:

1. reports the run failed, if nothing has ended it yet, and frees the run's
   pool slots and queued steps, which its dead worker can no longer release;
2. stops the step the way Dagster cancels one (SIGINT to itself: the step's
   code gets ``DagsterExecutionInterruptedError``); a build in progress stops
   at its next block of rows in every column group, and removes its rows-first
   partial state like any interrupted build;
3. exits hard if it is still alive ``GRACE_SECONDS`` later (its events could
   be stuck in a pipe that nobody reads any more).

A step running inside the run worker (the in-process executor) dies with it:
nothing is left to stop, and the run is ended by run monitoring (see the
"Long runs" section of docs/dagster.md).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType, JobFailureData, RunFailureReason
from dagster._utils import send_interrupt

__all__ = ["GRACE_SECONDS", "raise_if_orphaned", "watch_run_worker"]

GRACE_SECONDS = 10.0
"""How long a stopped step may take to wind down before it exits hard."""

_POLL_SECONDS = 1.0  # how often the parent's pid is compared, besides waiting on its sentinel

log = logging.getLogger(__name__)

_orphaned = threading.Event()
_watched: set[str] = set()
_lock = threading.Lock()


def raise_if_orphaned() -> None:
    """Raise Dagster's interruption when this step's run worker is gone; builds call it per block."""
    if _orphaned.is_set():
        raise dg.DagsterExecutionInterruptedError()


def watch_run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Watch, from a thread, the process that started this one, once per run and process.

    Does nothing in a process that no multiprocessing parent started (a
    ``dagster asset materialize`` process running the in-process executor, a
    test calling ``materialize``): there the step is the run worker itself.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    with _lock:
        if run.run_id in _watched:
            return
        _watched.add(run.run_id)
    threading.Thread(
        target=_watch,
        args=(instance, run, parent.pid, parent.sentinel),
        name="buckaroo-assets-run-worker-watch",
        daemon=True,
    ).start()


def _watch(instance: dg.DagsterInstance, run: dg.DagsterRun, owner: int, sentinel: Any) -> None:
    # The sentinel becomes readable when the parent exits.  With the fork start method
    # a sibling can hold the parent's end of that pipe too, so the parent pid is also
    # compared (not under forkserver, where the parent is the fork server).
    direct_child = os.getppid() == owner
    while not multiprocessing.connection.wait([sentinel], timeout=_POLL_SECONDS):
        if direct_child and os.getppid() != owner:
            break
    if not _ran_the_run(instance, run.run_id, owner):
        return  # e.g. a code server that started an in-process run worker: the run goes on
    _end_run(instance, run.run_id, owner)
    _orphaned.set()
    send_interrupt()
    time.sleep(GRACE_SECONDS)
    os._exit(1)


def _ran_the_run(instance: dg.DagsterInstance, run_id: str, pid: int) -> bool:
    """Whether the run's event log names ``pid`` as its run worker (or its executor's process)."""
    try:
        events = instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
        pids = {
            record.dagster_event.engine_event_data.metadata.get("pid")
            for record in events
            if record.dagster_event is not None
        }
    except Exception:
        return True  # the parent is gone for sure; a step with no one to report to must stop
    return dg.MetadataValue.text(str(pid)) in pids


def _end_run(instance: dg.DagsterInstance, run_id: str, worker: int) -> None:
    """Report the run failed unless it already ended, and free what its worker held in pools."""
    message = (
        f"The run worker (pid {worker}) exited while step process {os.getpid()} was running: "
        "the run is marked failed, its pool slots are freed and its steps stop."
    )
    try:
        current = instance.get_run_by_id(run_id)
        if current is not None and not current.is_finished:
            instance.report_run_failed(
                current,
                message,
                JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
            )
        storage = instance.event_log_storage
        if storage.supports_global_concurrency_limits:
            storage.free_concurrency_slots_for_run(run_id)
    except Exception as exc:  # the step must stop even when the instance cannot be written
        log.warning("could not end run %s after its worker died: %s", run_id, exc)
