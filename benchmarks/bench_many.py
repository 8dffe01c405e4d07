"""Benchmark the Dagster integration over many small datasets, against a plain Python loop.

One command (run from the repository root)::

    python -m benchmarks.bench_many --datasets 1000 [--rows 1000]
                                    [--parts defs,webserver,floor,build,prewarm,change,sensor,loop]
                                    [--checks each|one|none] [--granularity dataset|chunk]

It writes ``--datasets`` Parquet files of ``--rows`` rows into a temporary
folder with a code location (``buckaroo_definitions`` over all of them, a
``file://`` store) and a fresh ``DAGSTER_HOME``, then measures, each in a
fresh process:

- ``defs``: building the definitions and the asset job (after imports);
- ``webserver``: ``dagster-webserver`` started on the code location until
  its workspace reports the location loaded, then until the asset graph
  (every asset node) is answered over GraphQL;
- ``floor``: Dagster alone, the same number of assets in the same chunks
  doing nothing, without and with three passing checks each (what any
  integration with one asset per dataset pays);
- ``build``: the first build, ``dagster asset materialize`` of every bundle
  (multiprocess executor, one step per chunk of datasets);
- ``prewarm``: a prewarm schedule tick with every bundle stored (it requests
  nothing), and, for comparison, materializing every bundle again (all hits,
  what each prewarm used to run);
- ``change``: one file rewritten, then the schedule tick and the run it requests;
- ``sensor``: the new-versions sensor's first tick (no cursor) and the next one;
- ``loop``: ``ensure_bundle`` over the same files in a plain loop, into a
  fresh store (all misses), then again (all hits).

It prints a table of wall times, per-dataset times and ratios to the plain
loop. See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks._table import markdown_table
from buckaroo_assets.dagster.datasets import DATASETS_PER_STEP

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("defs", "webserver", "floor", "build", "prewarm", "change", "sensor", "loop")
_LOCATION = """\
import os
from pathlib import Path

from buckaroo_assets.dagster import BundleStoreResource, Dataset, buckaroo_definitions

HERE = Path(__file__).parent
defs = buckaroo_definitions(
    [Dataset(p.stem, str(p)) for p in sorted((HERE / "data").glob("*.parquet"))],
    store=BundleStoreResource(url=(HERE / "store").as_uri()),
    checks=os.environ.get("BENCH_CHECKS", "each"),
    granularity=os.environ.get("BENCH_GRANULARITY", "dataset"),
)
"""
# Dagster alone: the same number of assets in the same chunks, each step doing nothing but
# report them (and, optionally, three passing checks each, as the bundle assets have).
_FLOOR = """\
import os

import dagster as dg

N, CHECKS, CHUNK = {datasets}, int(os.environ["FLOOR_CHECKS"]), {chunk}


def chunk(start):
    keys = [dg.AssetKey(["buckaroo", f"d{{i:05d}}"]) for i in range(start, min(N, start + CHUNK))]
    checks = [dg.AssetCheckSpec(f"c{{j}}", asset=k) for k in keys for j in range(CHECKS)]

    @dg.multi_asset(specs=[dg.AssetSpec(k, skippable=True) for k in keys], check_specs=checks,
                    name=f"chunk_{{start}}", can_subset=True)
    def report(context):
        for k in keys:
            yield dg.MaterializeResult(asset_key=k)
            for j in range(CHECKS):
                yield dg.AssetCheckResult(asset_key=k, check_name=f"c{{j}}", passed=True)

    return report


defs = dg.Definitions(assets=[chunk(s) for s in range(0, N, CHUNK)])
"""


def _write_dataset(path: Path, rows: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = pa.array(range(seed, seed + rows), pa.int64())
    pq.write_table(
        pa.table(
            {
                "id": ids,
                "amount": pa.array([(i * 7919 % 1000) / 10 for i in range(rows)]),
                "zone": pa.array([f"z{(i + seed) % 13}" for i in range(rows)]),
                "ts": pa.array([1_700_000_000_000 + i * 1000 for i in range(rows)], pa.int64()),
            }
        ),
        path,
    )


def _child(part: str, work: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process; returns seconds and what it saw."""
    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg

    import buckaroo_assets.dagster  # noqa: F401  (imports are not what is measured)

    sys.path.insert(0, str(work))
    if part == "defs":
        started = time.perf_counter()
        import location  # noqa: F401  (builds the definitions)

        defs_seconds = time.perf_counter() - started
        location.defs.resolve_implicit_global_asset_job_def()
        return {"seconds": time.perf_counter() - started, "defs_seconds": defs_seconds}
    import location

    defs = location.defs
    resources = dict(defs.resources or {})
    with dg.DagsterInstance.get() as instance:
        started = time.perf_counter()
        if part == "schedule":
            context = dg.build_schedule_context(
                instance=instance, repository_def=defs.get_repository_def(), resources=resources
            )
            data = defs.get_schedule_def("buckaroo_prewarm").evaluate_tick(context)
            selection = [k.to_user_string() for r in data.run_requests for k in r.asset_selection]
            return {"seconds": time.perf_counter() - started, "requested": selection}
        if part in ("sensor", "sensor_again"):
            cursor_file = work / "sensor_cursor.json"
            cursor = cursor_file.read_text() if part == "sensor_again" else None
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, definitions=defs, resources=resources
            )
            data = defs.get_sensor_def("buckaroo_new_versions").evaluate_tick(context)
            seconds = time.perf_counter() - started
            cursor_file.write_text(data.cursor or "")
            state = json.loads(data.cursor or "{}")
            requested = sum(len(r.asset_selection) for r in data.run_requests)
            return {"seconds": seconds, "seen": len(state.get("seen", {})), "requested": requested}
    raise ValueError(part)


def _loop(work: Path, store_name: str) -> dict[str, Any]:
    from buckaroo_assets import BundleStore, StatsConfig
    from buckaroo_assets.build.publish import ensure_bundle

    store = BundleStore((work / store_name).as_uri())
    config = StatsConfig.from_project()
    files = sorted((work / "data").glob("*.parquet"))
    started = time.perf_counter()
    hits = sum(ensure_bundle(store, str(p), config=config, dataset=p.stem).hit for p in files)
    return {"seconds": time.perf_counter() - started, "hits": hits}


def _in_child(work: Path, part: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_many", "--child", part, "--work", str(work)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{part} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _materialize(
    work: Path, env: dict[str, str], select: str, location: str = "location.py"
) -> float:
    command = [sys.executable, "-m", "dagster", "asset", "materialize",
               "-f", str(work / location), "--select", select]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"materialize failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


_WORKSPACE = """{ workspaceOrError { ... on Workspace { locationEntries { loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
_ASSET_NODES = "{ assetNodes { assetKey { path } } }"


def _graphql(port: int, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)["data"]


def _webserver(work: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Seconds until the location is loaded, until the asset graph is answered; asset count."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "dagster_webserver", "-f", str(work / "location.py"),
               "-h", "127.0.0.1", "-p", str(port)]
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {server.returncode}")
            try:
                entries = _graphql(port, _WORKSPACE)["workspaceOrError"]["locationEntries"]
            except OSError:
                entries = []
            if entries and entries[0]["loadStatus"] == "LOADED":
                location = entries[0]["locationOrLoadError"]
                if location["__typename"] != "RepositoryLocation":
                    raise RuntimeError(f"the location did not load: {location}")
                break
            time.sleep(0.2)
        loaded = time.perf_counter() - started
        nodes = _graphql(port, _ASSET_NODES)["assetNodes"]
        return loaded, time.perf_counter() - started, len(nodes)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--checks", choices=("each", "one", "none"), default="each",
                        help="how the bundle assets report their checks (buckaroo_definitions)")
    parser.add_argument("--granularity", choices=("dataset", "chunk"), default="dataset",
                        help="one asset per dataset or per chunk (buckaroo_definitions)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = _loop(args.work, args.child[5:]) if args.child.startswith("loop:") else None
        print(json.dumps(result or _child(args.child, args.work)))
        return
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {sorted(unknown)}")

    with tempfile.TemporaryDirectory(prefix="bench_many_") as folder:
        work = Path(folder)
        (work / "data").mkdir()
        for i in range(args.datasets):
            _write_dataset(work / "data" / f"d{i:05d}.parquet", args.rows, i)
        (work / "location.py").write_text(_LOCATION)
        home = work / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUCKAROO_"))}
        env.update(DAGSTER_HOME=str(home), PYTHONPATH=str(ROOT), BENCH_CHECKS=args.checks,
                   BENCH_GRANULARITY=args.granularity)
        time.sleep(2.5)  # files younger than 2 s get no remembered hash (docs/dagster.md)

        n = args.datasets
        rows: list[tuple[str, float, str, str]] = []
        loop_miss = loop_hit = None
        if "loop" in parts:
            loop_miss = _in_child(work, "loop:loop_store", env)["seconds"]
            loop_hit = _in_child(work, "loop:loop_store", env)["seconds"]
            rows += [("plain loop, all misses", loop_miss, "miss", "ensure_bundle per file"),
                     ("plain loop, all hits", loop_hit, "hit", "")]
        if "defs" in parts:
            got = _in_child(work, "defs", env)
            rows.append(("definitions + asset job", got["seconds"], "",
                         f"definitions alone {got['defs_seconds']:.1f} s"))
        if "webserver" in parts:
            loaded, graph, nodes = _webserver(work, env)
            rows.append(("webserver: location loaded", loaded, "", "dagster-webserver -f"))
            rows.append(("webserver: asset graph answered", graph, "",
                         f"{nodes:,} asset nodes over GraphQL"))
        if "floor" in parts:
            (work / "floor.py").write_text(_FLOOR.format(datasets=n, chunk=DATASETS_PER_STEP))
            for checks in (0, 3):
                seconds = _materialize(work, {**env, "FLOOR_CHECKS": str(checks)}, "*", "floor.py")
                rows.append((f"Dagster alone: no-op assets, {checks} checks each", seconds, "miss",
                             "same chunks, nothing built"))
        if "build" in parts:
            rows.append(("first build (dagster asset materialize)",
                         _materialize(work, env, "kind:buckaroo"), "miss", "all misses"))
        if "prewarm" in parts:
            got = _in_child(work, "schedule", env)
            rows.append(("prewarm tick, all stored", got["seconds"], "hit",
                         f"{len(got['requested'])} requested"))
            rows.append(("every bundle again (all hits)",
                         _materialize(work, env, "kind:buckaroo"), "hit",
                         "what a prewarm ran before"))
        if "change" in parts:
            _write_dataset(work / "data" / "d00000.parquet", args.rows, 10**6)
            got = _in_child(work, "schedule", env)
            seconds = got["seconds"]
            if got["requested"]:
                select = ",".join(f"key:{k}" for k in got["requested"])
                seconds += _materialize(work, env, select)
            rows.append(("one dataset changed: tick + run", seconds, "hit",
                         f"{len(got['requested'])} requested"))
        if "sensor" in parts:
            first = _in_child(work, "sensor", env)
            again = _in_child(work, "sensor_again", env)
            rows.append(("sensor first tick (no cursor)", first["seconds"], "hit",
                         f"{first['seen']} looked at, {first['requested']} requested"))
            rows.append(("sensor next tick", again["seconds"], "hit",
                         f"{again['seen']} seen so far, {again['requested']} requested"))

    # Builds compare with the loop's misses; ticks and hits with its hits (it looks at every file).
    bases = {"miss": loop_miss, "hit": loop_hit}
    table = [
        [label, f"{s:,.2f}", f"{1000 * s / n:,.2f}",
         f"{s / bases[base]:.2f}" if bases.get(base) else "-", note]
        for label, s, base, note in rows
    ]
    header = ["operation", "s", "ms / dataset", "x plain loop", "notes"]
    print(f"{n:,} datasets of {args.rows:,} rows, checks={args.checks}, "
          f"granularity={args.granularity}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(markdown_table(header, table))


if __name__ == "__main__":
    main()
