"""The example code location (``definitions.py``) driven end to end through Dagster's own CLIs.

Each test runs ``dagster`` as a subprocess from the repository root, as a
user would, with a fresh ``DAGSTER_HOME`` (holding a copy of the repo's
``dagster.yaml``) and a fresh ``file://`` store.  Nothing is mocked: bundles
are read back with ``load_bundle`` and row counts checked against pyarrow.

``dagster dev`` starts a tree of processes (code server, gRPC server,
webserver, daemon, run workers) that outlive it unless its whole process
group is signalled: it runs in its own session and the test kills the group.
"""

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".buckaroo" / "data"  # where definitions.py generates the example datasets
DATASETS = ("trips", "sensors", "customers")
BUNDLE_KEYS = {name: dg.AssetKey(["buckaroo", name]) for name in DATASETS}

CLI_TIMEOUT = 240  # one `dagster asset materialize` of all three datasets takes ~20 s
SERVER_TIMEOUT = 120  # `dagster dev` answering GraphQL with the code location loaded
RUN_TIMEOUT = 180  # a launched run: queued, dequeued by the daemon, executed
STOP_TIMEOUT = 30  # graceful shutdown after SIGTERM, before SIGKILL

# Runs `python -m dagster ARGS` with SIGINT/SIGTERM at their defaults.  Dagster maps
# SIGTERM onto the SIGINT handler, and a process started from a background job of a
# non-interactive shell inherits SIGINT *ignored*: without this, SIGTERM would do nothing.
_DAGSTER = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'dagster', *sys.argv[1:]])\n"
)


def dagster_command(*args: str) -> list[str]:
    """The ``dagster`` CLI of the interpreter running the tests (no reliance on PATH)."""
    return [sys.executable, "-c", _DAGSTER, *args]


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Deployment:
    """A fresh Dagster instance folder and a fresh store, as environment variables."""

    home: Path
    store_url: str | None  # None: no $BUCKAROO_STORE_URL, the store rule decides
    root: Path = ROOT  # where commands run

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUCKAROO_"))}
        env.update(DAGSTER_HOME=str(self.home), PYTHONUNBUFFERED="1")
        if self.store_url is not None:
            env["BUCKAROO_STORE_URL"] = self.store_url
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Runs ``dagster ARGS`` from the repository root; output captured (stderr merged).

        In its own process group, stopped as a whole afterwards: step processes
        of the multiprocess executor never outlive the test, even on a timeout.
        """
        command = dagster_command(*args)
        proc = subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            output, _ = proc.communicate()
            pytest.fail(
                f"`dagster {' '.join(args)}` still running after {CLI_TIMEOUT} s:\n{tail(output)}"
            )
        finally:
            stop_group(proc)  # a no-op once everything exited
        return subprocess.CompletedProcess(command, proc.returncode, output)


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    store = tmp_path / "store"
    store.mkdir()
    return Deployment(home=home, store_url=store.as_uri())


def expected_rows(name: str) -> int:
    """Row count of the example dataset, counted by pyarrow (independently of the bundle)."""
    return pq.ParquetFile(DATA / f"{name}.parquet").metadata.num_rows


def assert_bundles_load(store_url: str) -> dict[str, ba.Bundle]:
    bundles = {}
    for name in DATASETS:
        bundle = ba.load_bundle(dataset=name, store=store_url, cache=False)
        assert bundle.rows == expected_rows(name), name
        assert 0 < bundle.first_window.num_rows <= bundle.rows, name
        bundles[name] = bundle
    return bundles


# ---------------------------------------------------------------- dagster asset materialize


def test_asset_materialize_publishes_every_example_then_hits(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = deployment.run("asset", "materialize", "-f", "definitions.py", "--select", "*")
    assert first.returncode == 0, f"first materialize failed:\n{tail(first.stdout)}"
    bundles = assert_bundles_load(deployment.store_url)

    second = deployment.run("asset", "materialize", "-f", "definitions.py", "--select", "*")
    assert second.returncode == 0, f"second materialize failed:\n{tail(second.stdout)}"

    monkeypatch.setenv("DAGSTER_HOME", str(deployment.home))  # dagster.yaml reads it
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()  # newest first
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2, runs
        newest, oldest = runs[0].run_id, runs[1].run_id
        for name, key in BUNDLE_KEYS.items():
            records = instance.fetch_materializations(key, limit=10).records
            by_run = {r.run_id: r.asset_materialization.metadata for r in records}
            assert set(by_run) == {oldest, newest}, (name, list(by_run))
            for run_id, cache in ((oldest, "miss"), (newest, "hit")):
                metadata = by_run[run_id]
                assert metadata["cache"].value == cache, (name, run_id, metadata)
                assert metadata["data_id"].value == bundles[name].data_id, name
                assert metadata["dagster/row_count"].value == expected_rows(name), name
                assert metadata["dagster/uri"].value.startswith(deployment.store_url), name


def test_after_the_main_job_every_door_finds_the_bundles_without_configuration(
    tmp_path: Path,
) -> None:
    """The main job's code location in a fresh folder, no store variable anywhere: the
    reader, ``ls`` and ``html`` all find its bundles in ./.buckaroo/store by the store rule."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "definitions.py", checkout / "definitions.py")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    deployment = Deployment(home=home, store_url=None, root=checkout)
    done = deployment.run("asset", "materialize", "-f", "definitions.py", "--select", "*")
    assert done.returncode == 0, f"materialize failed:\n{tail(done.stdout)}"
    assert (checkout / ".buckaroo" / "store" / "v1").is_dir()

    def plain(*argv: str) -> str:
        result = subprocess.run(
            argv, cwd=checkout, env=deployment.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    code = "import buckaroo_assets as ba; print(ba.load_bundle(dataset='trips').rows)"
    trips = checkout / ".buckaroo" / "data" / "trips.parquet"
    assert int(plain(sys.executable, "-c", code)) == pq.ParquetFile(trips).metadata.num_rows
    cli = str(Path(sys.executable).parent / "buckaroo-assets")
    listing = plain(cli, "ls")
    assert all(name in listing for name in DATASETS)
    assert (checkout / ".buckaroo" / "store").as_uri() in plain(cli, "ls", "--json")
    plain(cli, "html", "--dataset", "trips", "-o", "t.html")
    page = (checkout / "t.html").read_text()
    assert "<title>trips</title>" in page and "summary_stats_data" in page


# ---------------------------------------------------------------- dagster definitions validate


def test_definitions_validate(deployment: Deployment) -> None:
    result = deployment.run("definitions", "validate", "-f", "definitions.py")
    assert result.returncode == 0, f"validate failed:\n{tail(result.stdout)}"


# ---------------------------------------------------------------- dagster dev + GraphQL


def group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of process group ``pgid``, as 'pid cmdline' lines."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # exited meanwhile
            continue
        state, _ppid, group = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(f"{entry.name} {cmdline.strip()[:160]}")
    return members


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_group(proc: subprocess.Popen[bytes]) -> list[str]:
    """Stops every process of ``dagster dev``'s group; returns the survivors (should be none).

    SIGTERM first: dagster dev shuts its services down in order.  While it does,
    its code-server manager may restart a code server that the same signal
    stopped, so once the leader is gone the group is sent SIGTERM again; then
    SIGKILL for anything still there.
    """
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    steps = (
        (signal.SIGTERM, lambda: proc.poll() is not None, STOP_TIMEOUT),
        (signal.SIGTERM, lambda: not group_members(pgid), 10),
        (signal.SIGKILL, lambda: not group_members(pgid), 10),
    )
    for sig, done, patience in steps:
        if proc.poll() is not None and not group_members(pgid):
            break
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        wait_for(done, patience)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)  # reap the leader
    return group_members(pgid)


@dataclass
class DevServer:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log.read_text(errors="replace"), lines)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}\n{self.log_tail()}"
        return body["data"]

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n--- dagster dev log (tail) ---\n{self.log_tail()}")


@pytest.fixture
def dev_server(deployment: Deployment, tmp_path: Path) -> Iterator[DevServer]:
    if importlib.util.find_spec("dagster_webserver") is None:
        pytest.fail("`dagster dev` needs the dagster-webserver package: it is not installed")
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            dagster_command("dev", "-f", "definitions.py", "-h", "127.0.0.1", "-p", str(port)),
            cwd=ROOT,
            env=deployment.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole below
        )
    server = DevServer(proc, port, log)
    try:
        yield server
    finally:
        survivors = stop_group(proc)
    assert not survivors, (
        f"processes of dagster dev's group survived SIGTERM+SIGKILL: {survivors}\n"
        f"{server.log_tail()}"
    )


WORKSPACE = """{ workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename ... on PythonError { message stack } } } }
  ... on PythonError { message } } }"""

REPOSITORIES = """{ repositoriesOrError { __typename
  ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
  ... on PythonError { message } } }"""

ASSET_NODES = "{ assetNodes { assetKey { path } isMaterializable } }"

LAUNCH = """mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message } } }"""

RUN = """query Run($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status }
  ... on Error { message } } }"""

RUN_LOGS = """query Logs($runId: ID!) { logsForRun(runId: $runId) { __typename
  ... on EventConnection { events { __typename
      ... on MessageEvent { message stepKey }
      ... on ErrorEvent { error { message } } } } } }"""

MATERIALIZATIONS = """query Materializations($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) { assetKey { path }
    assetMaterializations(limit: 1) { runId
      metadataEntries { __typename label
        ... on TextMetadataEntry { text }
        ... on IntMetadataEntry { intValue } } } } }"""


def wait_until_loaded(server: DevServer) -> dict[str, Any]:
    """Waits for the webserver and the code location; returns the one repository."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    last: object = "no answer yet"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            server.fail(f"dagster dev exited early with code {server.proc.returncode}")
        try:
            workspace = server.graphql(WORKSPACE)["workspaceOrError"]
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = exc
            time.sleep(0.5)
            continue
        last = workspace
        entries = workspace.get("locationEntries") or []
        for entry in entries:
            error = entry["locationOrLoadError"] or {}
            if error.get("__typename") == "PythonError":
                server.fail(f"code location {entry['name']} failed to load: {error['message']}")
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            repositories = server.graphql(REPOSITORIES)["repositoriesOrError"]
            nodes = repositories.get("nodes") or []
            if len(nodes) == 1:
                return nodes[0]
            last = repositories
        time.sleep(0.5)
    server.fail(f"dagster dev not ready after {SERVER_TIMEOUT} s; last answer: {last}")
    raise AssertionError  # unreachable: fail raises


def wait_for_run(server: DevServer, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT
    status = "unknown"
    while time.monotonic() < deadline:
        answer = server.graphql(RUN, {"runId": run_id})["runOrError"]
        if answer["__typename"] != "Run":
            server.fail(f"run {run_id}: {answer}")
        status = answer["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    server.fail(f"run {run_id} still {status} after {RUN_TIMEOUT} s")
    raise AssertionError  # unreachable


def run_messages(server: DevServer, run_id: str, last: int = 25) -> str:
    logs = server.graphql(RUN_LOGS, {"runId": run_id})["logsForRun"]
    lines = []
    for event in logs.get("events") or []:
        line = f"{event['__typename']} [{event.get('stepKey')}] {event.get('message')}"
        if event.get("error"):
            line += f"\n    {event['error']['message']}"
        lines.append(line)
    return "\n".join(lines[-last:])


def test_dagster_dev_runs_the_example_location_over_graphql(
    deployment: Deployment, dev_server: DevServer
) -> None:
    server = dev_server
    repository = wait_until_loaded(server)
    assert "__ASSET_JOB" in {job["name"] for job in repository["jobs"]}, repository

    nodes = server.graphql(ASSET_NODES)["assetNodes"]
    keys = [n["assetKey"] for n in nodes if n["isMaterializable"]]
    assert sorted(k["path"] for k in keys) == sorted(k.path for k in BUNDLE_KEYS.values()), nodes

    selector = {
        "repositoryLocationName": repository["location"]["name"],
        "repositoryName": repository["name"],
        "jobName": "__ASSET_JOB",
        "assetSelection": keys,
    }
    launched = server.graphql(LAUNCH, {"params": {"selector": selector}})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        server.fail(f"launchRun refused: {launched}")
    run_id = launched["run"]["runId"]

    status = wait_for_run(server, run_id)
    if status != "SUCCESS":
        server.fail(f"run {run_id} ended {status}:\n{run_messages(server, run_id)}")

    answer = server.graphql(MATERIALIZATIONS, {"keys": keys})["assetNodes"]
    assert len(answer) == len(DATASETS), answer
    for node in answer:
        name = node["assetKey"]["path"][-1]
        events = node["assetMaterializations"]
        assert events and events[0]["runId"] == run_id, (name, events)
        entries = {e["label"]: e for e in events[0]["metadataEntries"]}
        assert {"dagster/uri", "data_id", "dagster/row_count"} <= set(entries), (name, entries)
        assert entries["dagster/row_count"]["intValue"] == expected_rows(name), name
        assert entries["dagster/uri"]["text"].startswith(deployment.store_url), name
        assert entries["cache"]["text"] == "miss", name  # a fresh store
        data_id = entries["data_id"]["text"]
        bundle = ba.load_bundle(data_id, store=deployment.store_url, cache=False)
        assert bundle.data_id == data_id
        assert bundle.rows == expected_rows(name), name
