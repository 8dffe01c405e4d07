"""SIGKILL of the process running a Dagster run: no step builds on unowned, no run stays STARTED.

``dagster asset materialize`` runs as a user would (its own session, a fresh
``DAGSTER_HOME`` holding the repository's ``dagster.yaml``, a fresh ``file://``
store) over a code location of two datasets, one step each: ``small`` (1,000
rows) and ``big`` (a folder of hard links to one Parquet file, several
seconds to summarise).  Once ``small`` is published and ``big``'s build has
published its rows-first partial state, the run worker is killed:

1. multiprocess executor, only the ``dagster`` process killed: the ``big``
   step process stops within seconds, removing its partial state; the store
   holds no bundle of ``big`` and verifies clean; the run is FAILURE and its
   slots in the ``buckaroo`` pool are freed;
2. in-process executor, the whole process group killed (the step dies with the
   run): the run stays STARTED holding a pool slot until Dagster's run
   monitoring, ``dagster-daemon run`` on this instance, ends it and frees the
   slot.  The instance's ``dagster.yaml`` is the repository's with the
   monitoring poll interval, the maximum runtime and the slot-freeing delay
   cut to 1 s, so that this happens within the test;
3. the next ``dagster asset materialize`` succeeds, reuses ``small`` and builds
   ``big``, whose checks pass.
"""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import buckaroo_assets as ba

from .test_dagster_cli import ROOT, Deployment, dagster_command, tail

BIG_FILES = 16  # hard links to one file of 1,000,000 rows: several seconds to summarise
STEP_EXIT_SECONDS = 15  # a step process whose run worker died is gone within this
RUN_END_SECONDS = 30  # a dead run leaves STARTED within this (either way)
START_SECONDS = 120  # `dagster asset materialize` loading the location and starting the build
BIG_STEP = "buckaroo_bundles_1"  # one dataset per step, in declaration order

LOCATION = """\
from buckaroo_assets.dagster import BundleStoreResource, Dataset, buckaroo_definitions

defs = buckaroo_definitions(
    [Dataset("big", {big!r}), Dataset("small", {small!r})],
    store=BundleStoreResource(url={store!r}),
    prewarm_cron=None,
    sensor_interval_seconds=None,
    datasets_per_step=1,
)
"""


def instance_config() -> dict[str, Any]:
    """The repository's dagster.yaml with run monitoring sped up for a test."""
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] is True and monitoring["max_resume_run_attempts"] == 0
    assert monitoring["max_runtime_seconds"] > 0  # what ends a run nothing else can end
    monitoring.update(
        poll_interval_seconds=1, max_runtime_seconds=1, free_slots_after_run_end_seconds=1
    )
    return config


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config()))
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # for this process' own instance
    store = tmp_path / "store"
    store.mkdir()
    data = tmp_path / "data"
    (data / "big").mkdir(parents=True)
    rng = np.random.default_rng(7)
    rows = 1_000_000
    one = pa.table({"x": rng.normal(size=rows), "k": rng.integers(0, 10**12, rows)})
    pq.write_table(one, data / "one.parquet")
    for i in range(BIG_FILES):
        os.link(data / "one.parquet", data / "big" / f"part-{i:02d}.parquet")
    pq.write_table(one.slice(0, 1000), data / "small.parquet")
    (tmp_path / "location.py").write_text(
        LOCATION.format(
            big=str(data / "big"), small=str(data / "small.parquet"), store=store.as_uri()
        )
    )
    return Deployment(home=home, store_url=store.as_uri(), root=tmp_path)


@contextlib.contextmanager
def started(deployment: Deployment, *args: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``args`` run in a session of their own; whatever is left of it is killed afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=deployment.root, env=deployment.env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def materialize(
    deployment: Deployment, log: Path, *extra: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """``dagster asset materialize`` of the test's code location, started (see ``started``)."""
    command = dagster_command("asset", "materialize", "-f", "location.py", "--select", "*", *extra)
    return started(deployment, *command, log=log)


def wait_for(what: str, condition: Callable[[], Any], seconds: float, log: Path) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s\n{tail(log.read_text(errors='replace'))}")
        time.sleep(0.1)
    return found


def alive(pid: int) -> bool:
    """A process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def building_big(
    instance: dg.DagsterInstance, store: ba.BundleStore, big_id: str, before: set[str]
) -> Callable[[], Any]:
    """The new run (not in ``before``), once ``small`` is published and ``big`` is being built."""

    def check() -> Any:
        runs = [r for r in instance.get_runs() if r.run_id not in before]
        if runs and store.list(dataset="small") and store.in_progress(big_id):
            return runs[0]
        return None

    return check


def step_pid(instance: dg.DagsterInstance, run_id: str, step_key: str) -> int:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED)
    [pid] = [int(e.dagster_event.event_specific_data.metadata["pid"].value)
             for e in events if e.step_key == step_key]  # fmt: skip
    return pid


def claimed(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Slots of the ``buckaroo`` pool held, or waited for, by steps of ``run_id``."""
    info = instance.event_log_storage.get_concurrency_info("buckaroo")
    held = [s.step_key for s in info.claimed_slots if s.run_id == run_id]
    return held + [s.step_key for s in info.pending_steps if s.run_id == run_id]


def ended(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    run = instance.get_run_by_id(run_id)
    return run if run is not None and run.is_finished and not claimed(instance, run_id) else None


def test_sigkill_of_the_run_worker_stops_its_steps_and_ends_its_run(
    deployment: Deployment, tmp_path: Path
) -> None:
    store = ba.BundleStore(deployment.store_url)
    big_id = ba.data_id_for(str(tmp_path / "data" / "big"))
    logs = tmp_path / "logs"
    logs.mkdir()
    with dg.DagsterInstance.get() as instance:
        run_and_kill(deployment, instance, store, big_id, logs)


def run_and_kill(
    deployment: Deployment,
    instance: dg.DagsterInstance,
    store: ba.BundleStore,
    big_id: str,
    logs: Path,
) -> None:
    # 1. Multiprocess executor: only the run worker (the `dagster` process) is killed.
    log = logs / "multiprocess.log"
    with materialize(deployment, log) as launcher:
        run = wait_for(
            "big building", building_big(instance, store, big_id, set()), START_SECONDS, log
        )
        pid = step_pid(instance, run.run_id, BIG_STEP)
        assert alive(pid)
        os.kill(launcher.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for("big's step process exits", lambda: not alive(pid), STEP_EXIT_SECONDS, log)
        print(f"big's step process exited {time.monotonic() - killed:.1f} s after the kill")
        first = wait_for("run ended", lambda: ended(instance, run.run_id), RUN_END_SECONDS, log)
    assert first.status == dg.DagsterRunStatus.FAILURE
    assert first.tags["dagster/failure_reason"] == "UNEXPECTED_TERMINATION"
    steps = {e.step_key: e.dagster_event_type for e in instance.all_logs(
        run.run_id, of_type={dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE})}  # fmt: skip
    assert steps[BIG_STEP] == dg.DagsterEventType.STEP_FAILURE, steps  # stopped, not finished
    assert store.in_progress(big_id) == []  # its rows-first partial state removed
    assert store.list(dataset="big") == [] and big_id not in {e.data_id for e in store.list()}
    report = store.verify(grace=dt.timedelta(0))  # any leftover file counts
    assert report.ok and report.orphans == [] and report.building == [], report

    # 2. In-process executor, the whole group killed: the step dies with the run, whose
    #    pool slot nobody releases; Dagster's run monitoring ends the run and frees it.
    log = logs / "in_process.log"
    in_process = '{"execution": {"config": {"in_process": {}}}}'
    with materialize(deployment, log, "--config-json", in_process) as launcher:
        run = wait_for(
            "big building",
            building_big(instance, store, big_id, {first.run_id}),
            START_SECONDS,
            log,
        )
        os.killpg(launcher.pid, signal.SIGKILL)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    assert BIG_STEP in claimed(instance, run.run_id)
    log = logs / "daemon.log"
    daemon = Path(sys.executable).with_name("dagster-daemon")
    with started(deployment, str(daemon), "run", "--empty-workspace", log=log):
        second = wait_for("run ended", lambda: ended(instance, run.run_id), RUN_END_SECONDS, log)
    assert second.status == dg.DagsterRunStatus.FAILURE
    report = store.verify()
    assert report.ok and [b.data_id for b in report.building] == [big_id], report  # not a bundle
    assert not store.exists(big_id, report.building[0].config_id)

    # 3. The next run reuses small, builds big and checks it.
    done = deployment.run("asset", "materialize", "-f", "location.py", "--select", "*")
    assert done.returncode == 0, tail(done.stdout)
    third = instance.get_runs(limit=1)[0]
    assert third.status == dg.DagsterRunStatus.SUCCESS
    cache = {}
    for record in instance.all_logs(
        third.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ):
        materialization = record.asset_materialization
        cache[materialization.asset_key.path[-1]] = materialization.metadata["cache"].value
    assert cache == {"small": "hit", "big": "miss"}
    checks = [
        e.dagster_event.event_specific_data
        for e in instance.all_logs(third.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert {c.check_name for c in checks if c.asset_key.path[-1] == "big"} >= {"bundle_integrity"}
    assert all(c.passed for c in checks), checks
    assert store.in_progress(big_id) == [] and store.verify().ok
