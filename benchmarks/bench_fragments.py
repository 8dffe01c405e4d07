"""Benchmark fragmented builds: one ``build_bundle`` against a ``FragmentedDataset`` under Dagster.

One command (run from the repository root)::

    python -m benchmarks.bench_fragments [--rows 2000000] [--fragments 8] [--repeats 3]
                                         [--variants rows,files]

The data is the ``mixed`` shape of ``benchmarks/generate.py`` (20 columns),
reused from ``benchmarks/data/``; the ``files`` variant splits it into
``--fragments`` files of equal row counts in a folder next to it. Every round
measures, alternating (the first contender moves one on each round), each in
fresh processes:

- ``single``: ``build_bundle`` of the whole file (``benchmarks._worker``);
- ``dagster_whole``: ``dagster asset materialize`` of the file as a plain
  ``Dataset`` (one step), for Dagster's cost without fragments;
- ``dagster_<variant>_<n>``: ``dagster asset materialize`` of a
  ``FragmentedDataset`` (``rows``: row ranges of the file; ``files``: the
  folder), multiprocess executor with ``max_concurrent`` n = 1 and 2, into a
  fresh store;
- ``pieces_<variant>``: the same work without Dagster, ``build_partial`` of
  each fragment and then ``merge_partials`` of them all, one process each.

Wall time is taken around each process; CPU time is that of the process and
of everything it started (``RUSAGE_CHILDREN``, with this process adopting
orphans as a subreaper, so step processes count even when their parent did
not wait for them). The Dagster runs' event logs give the launcher's and each
step's start costs. The output states the model that projects the wall time
to 16 and 64 workers. Results go to ``benchmarks/results/fragments.json``;
see ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import heapq
import json
import math
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._table import markdown_table
from benchmarks._worker import PREIMPORTS, timed
from benchmarks.bench_build import (
    DATA_DIR,
    ROOT,
    data_file,
    load_average,
    machine_facts,
    run_header,
)

# Like bench_build, this process stays lean (no pyarrow, no data): a child's
# ru_maxrss starts from its parent's high-water mark.

RESULTS_FILE = Path("benchmarks") / "results" / "fragments.json"  # -<start method> added
VARIANTS = ("rows", "files")
WORKERS = (1, 2)
PROJECTED_WORKERS = (16, 64)
TARGET_CPU_RATIO = 1.15  # fragmented CPU (all processes) / single build's process
TARGET_WALL_RATIO = 1.1  # fragmented wall with 2 workers / single build's process
CHILD_TIMEOUT_S = 3600
REAP_TIMEOUT_S = 60
PR_SET_CHILD_SUBREAPER = 36
_PARTIAL_PREIMPORTS = (*PREIMPORTS["build_bundle"], "buckaroo_assets.build.partials")
_LOCATION = """\
import dagster as dg

from buckaroo_assets import StatsConfig
from buckaroo_assets.dagster import (
    BundleStoreResource, Dataset, FragmentedDataset, buckaroo_definitions,
)

defs = dg.Definitions.merge(
    buckaroo_definitions(
        [{dataset}],
        store=BundleStoreResource(url={url!r}),
        config=StatsConfig(),
        prewarm_cron=None,
        sensor_interval_seconds=None,
    ),
    dg.Definitions(executor=dg.multiprocess_executor.configured({executor_config!r})),
)
"""


class ChildFailed(RuntimeError):
    pass


# ---------------------------------------------------------------- children (fresh processes)


def _partial_child(spec: dict[str, Any]) -> dict[str, Any]:
    """``build_partial`` of one fragment, timed; its bytes written to ``spec["out"]``."""
    import dataclasses

    import buckaroo_assets as ba

    config = ba.StatsConfig()
    fragment = (spec["index"], spec["count"])
    record, part = timed(
        lambda: ba.build_partial(
            spec["source"], fragment=fragment, split=spec["split"], config=config
        ),
        _PARTIAL_PREIMPORTS,
    )
    started = time.perf_counter()
    blob = part.to_bytes()
    record["to_bytes_s"] = time.perf_counter() - started
    Path(spec["out"]).write_bytes(blob)

    # Each column's share: the partial with that column alone, less one with no column.
    def size(positions: list[int]) -> int:
        return len(
            dataclasses.replace(
                part,
                window=part.window.select(positions),
                names=[part.names[i] for i in positions],
                dtypes=[part.dtypes[i] for i in positions],
                notes={},
                columns=[part.columns[i] for i in positions],
            ).to_bytes()
        )

    fixed = size([])
    columns = {str(name): size([i]) - fixed for i, name in enumerate(part.names)}
    return {
        **record,
        "rows": part.rows,
        "bytes": len(blob),
        "fixed_bytes": fixed,
        "column_bytes": columns,
        "block_rows": config.block_rows,
    }


def _merge_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Reading and decoding every fragment's partial, then merging them, timed.

    The merge is ``merge_partials`` of their ``PartialStats.combine`` (the same
    bundle: merging is associative), so its two halves are timed apart.
    """
    import buckaroo_assets as ba

    config = ba.StatsConfig()
    steps: dict[str, float] = {}

    def operation() -> Any:
        started = time.perf_counter()
        parts = [ba.PartialStats.from_bytes(Path(p).read_bytes()) for p in spec["parts"]]
        steps["load_s"] = time.perf_counter() - started
        whole = ba.PartialStats.combine(parts)
        steps["combine_s"] = time.perf_counter() - started - steps["load_s"]
        bundle = ba.merge_partials([whole], data_id="bench", config=config)
        steps["finalise_s"] = time.perf_counter() - started - steps["load_s"] - steps["combine_s"]
        return bundle

    record, bundle = timed(operation, _PARTIAL_PREIMPORTS)
    return {**record, **steps, "rows": bundle.meta["rows"]}


def _split_child(spec: dict[str, Any]) -> dict[str, Any]:
    """The file cut into ``count`` files of equal row counts (kept when already there)."""
    import pyarrow.parquet as pq

    folder, count = Path(spec["folder"]), spec["count"]
    rows = pq.ParquetFile(spec["source"]).metadata.num_rows
    names = [folder / f"part-{i:05d}.parquet" for i in range(count)]
    present = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if present == names and sum(pq.ParquetFile(p).metadata.num_rows for p in names) == rows:
        return {"reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    table = pq.read_table(spec["source"])
    for i, name in enumerate(names):
        start, stop = i * rows // count, (i + 1) * rows // count
        pq.write_table(table.slice(start, stop - start), name)
    return {"reused": False}


def _events_child(spec: dict[str, Any]) -> dict[str, Any]:
    """The latest run's timestamps per step, and each partial step's own seconds."""
    import dagster as dg

    kinds = dg.DagsterEventType
    marks = {
        kinds.STEP_WORKER_STARTING: "launched",
        kinds.STEP_START: "started",
        kinds.STEP_SUCCESS: "done",
    }
    out: dict[str, Any] = {"steps": {}}
    with dg.DagsterInstance.from_config(spec["home"]) as instance:
        (run,) = instance.get_runs(limit=1)
        out["status"] = run.status.value
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == kinds.RUN_START:
                out["run_start"] = entry.timestamp
            elif event.event_type in (kinds.RUN_SUCCESS, kinds.RUN_FAILURE):
                out["run_end"] = entry.timestamp
            elif event.step_key and event.event_type in marks:
                out["steps"].setdefault(event.step_key, {})[marks[event.event_type]] = (
                    entry.timestamp
                )
            elif event.step_key and event.event_type == kinds.STEP_OUTPUT:
                seconds = event.event_specific_data.metadata.get("seconds")
                if seconds is not None:
                    out["steps"].setdefault(event.step_key, {})["work"] = seconds.value
    return out


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "partial": _partial_child,
    "merge": _merge_child,
    "split": _split_child,
    "events": _events_child,
}


# ---------------------------------------------------------------- measuring processes


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so their CPU time reaches RUSAGE_CHILDREN too."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_orphans() -> bool:
    """Wait for every adopted descendant still running; False if some outlive the timeout."""
    deadline = time.monotonic() + REAP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            time.sleep(0.05)
    return False


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``: its wall seconds, the CPU seconds of it and all it started, its JSON line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False
    )
    wall = time.perf_counter() - started
    reaped = _reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise ChildFailed(
            f"{shlex.join(cmd)} exited with {done.returncode}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    record = json.loads(lines[-1]) if lines else {}
    return {**record, "wall_s": wall, "tree_cpu_s": cpu, "all_reaped": reaped}


def child(kind: str, **spec: Any) -> dict[str, Any]:
    """One of ``CHILDREN`` in a fresh interpreter."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_fragments",
        "--child",
        json.dumps({"kind": kind, **spec}),
    ]
    return run_measured(cmd, ROOT)


# ---------------------------------------------------------------- contenders


class Bench:
    """The data, the temporary folder (code locations, Dagster home, stores) and the contenders."""

    def __init__(
        self, work: Path, source: Path, folder: Path, fragments: int, start_method: str
    ) -> None:
        self.work, self.source, self.folder, self.fragments = work, source, folder, fragments
        self.start_method = start_method
        self.home = work / "home"
        self.home.mkdir()
        (self.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUCKAROO_"))
        }
        self.env.update(DAGSTER_HOME=str(self.home), PYTHONPATH=str(ROOT))

    def fragment_sources(self, variant: str) -> list[tuple[str, bool]]:
        """(source, split) of each fragment, for ``build_partial``."""
        if variant == "rows":
            return [(str(self.source), True)] * self.fragments
        return [(str(p), False) for p in sorted(self.folder.glob("*.parquet"))]

    def single(self) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "benchmarks._worker", "build_bundle", str(self.source)]
        return run_measured(cmd, ROOT)

    def pieces(self, variant: str, round_no: int) -> dict[str, Any]:
        out = self.work / f"partials-{variant}-{round_no}"
        out.mkdir()
        parts = [
            child(
                "partial",
                source=source,
                split=split,
                index=i,
                count=self.fragments,
                out=str(out / f"{i}.bin"),
            )
            for i, (source, split) in enumerate(self.fragment_sources(variant))
        ]
        merge = child("merge", parts=[str(out / f"{i}.bin") for i in range(len(parts))])
        shutil.rmtree(out)
        return {
            "wall_s": sum(p["wall_s"] for p in parts) + merge["wall_s"],
            "tree_cpu_s": sum(p["tree_cpu_s"] for p in parts) + merge["tree_cpu_s"],
            "seconds": sum(p["seconds"] for p in parts) + merge["seconds"],
            "cpu_seconds": sum(p["cpu_seconds"] for p in parts) + merge["cpu_seconds"],
            "partials": parts,
            "merge": merge,
        }

    def dagster(self, variant: str, workers: int, round_no: int) -> dict[str, Any]:
        store = self.work / f"store-{variant}-{workers}-{round_no}"
        if variant == "whole":
            dataset = f"Dataset('bench', {str(self.source)!r})"
        elif variant == "rows":
            dataset = (
                f"FragmentedDataset('bench', {str(self.source)!r}, fragments={self.fragments})"
            )
        else:
            dataset = f"FragmentedDataset('bench', {str(self.folder)!r})"
        location = self.work / f"location_{variant}_{workers}.py"
        executor_config: dict[str, Any] = {"max_concurrent": workers}
        if self.start_method == "forkserver":
            # Steps fork from a server that imported these once, instead of each importing them.
            preload = ["dagster", "buckaroo_assets.dagster", "buckaroo_assets.build.partials"]
            executor_config["start_method"] = {"forkserver": {"preload_modules": preload}}
        location.write_text(
            _LOCATION.format(dataset=dataset, url=store.as_uri(), executor_config=executor_config)
        )
        cmd = [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-f",
            str(location),
            "--select",
            "*",
        ]
        launched = time.time()
        record = run_measured(cmd, self.work, self.env)
        ended = time.time()
        events = child("events", home=str(self.home))
        shutil.rmtree(store, ignore_errors=True)
        if events.get("status") != "SUCCESS":
            raise ChildFailed(f"the run ended {events.get('status')}")
        return {**record, **step_timings(events, launched, ended)}


def step_timings(events: dict[str, Any], launched: float, ended: float) -> dict[str, Any]:
    """Where a run's wall time went, from its event log (epoch seconds on this machine)."""
    steps = events["steps"]

    def of(suffix: str) -> list[dict[str, float]]:
        return [
            v
            for k, v in sorted(steps.items())
            if k.rsplit(".", 1)[-1].split("[")[0].endswith(suffix)
        ]

    in_step = [s["done"] - s["started"] for s in steps.values()]
    out = {
        "launcher_s": events["run_start"] - launched,  # interpreter, imports, code location, run
        "exit_s": ended - events["run_end"],
        "run_s": events["run_end"] - events["run_start"],
        "steps": len(steps),
        "step_start_s": [s["started"] - s["launched"] for s in steps.values()],
        # per step: what the run spent beyond the steps' own work, serially (max_concurrent 1)
        "step_overhead_s": (events["run_end"] - events["run_start"] - sum(in_step))
        / max(len(steps), 1),
    }
    if of("_partial"):
        out["list_s"] = [s["done"] - s["started"] for s in of("_list")][0]
        out["partial_in_step_s"] = [s["done"] - s["started"] for s in of("_partial")]
        out["partial_work_s"] = [s.get("work") for s in of("_partial")]
        out["merge_in_step_s"] = [s["done"] - s["started"] for s in of("_merge")][0]
    return out


# ---------------------------------------------------------------- summary and model


def median_of(records: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in records)


def makespan(workers: int, costs: list[float]) -> float:
    """Wall time of ``costs`` run in order on ``workers`` slots, each taking the next free one."""
    free = [0.0] * workers
    for cost in costs:
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free)


def fit_line(ys: list[float]) -> tuple[float, float]:
    """Least squares ``y_i = a + b (i + 1)``."""
    xs = [i + 1.0 for i in range(len(ys))]
    if len(ys) < 2:
        return ys[0], 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return my - b * mx, b


MODEL = (
    "wall(n, F) = launcher + exit + (o + list) + makespan over n workers of the F partial steps "
    "(each o + r + p_i(F), in order) + (o + M(F) + m), with F = n fragments (at most one per "
    "block of {block_rows:,} rows) and n free cores. o: a step's overhead in the serial run "
    "(max_concurrent 1; process start, events, gaps); r: a partial step's time beyond "
    "build_partial + to_bytes; p_i(F): build_partial + to_bytes of fragment i, measured at "
    "F0 = {f0} and scaled: rows variant a*F0/F + b*F0*(i+1)/F (a line fitted to the measured "
    "p_i; b: what fragment i pays for the rows before its range), files variant mean(p)*F0/F; "
    "M(F) = F*(load + combine per partial) + finalise, timed at F0 (load: read + from_bytes; "
    "combine: PartialStats.combine; finalise: merge_partials of the combined partial); "
    "m: the merge step's time beyond M (put, checks)."
)


def model(
    variant: str,
    dagster1: list[dict[str, Any]],
    pieces: list[dict[str, Any]],
    fragments: int,
    rows: int,
) -> dict[str, Any]:
    """The model's parameters from the serial Dagster runs and the pieces, and its predictions."""
    p = [
        statistics.median(
            r["partials"][i]["seconds"] + r["partials"][i]["to_bytes_s"] for r in pieces
        )
        for i in range(fragments)
    ]
    merges = [r["merge"] for r in pieces]
    load, combine, finalise = (median_of(merges, k) for k in ("load_s", "combine_s", "finalise_s"))
    block_rows = pieces[0]["partials"][0]["block_rows"]
    params = {
        "launcher_exit_s": median_of(dagster1, "launcher_s") + median_of(dagster1, "exit_s"),
        "o_s": median_of(dagster1, "step_overhead_s"),
        "list_s": median_of(dagster1, "list_s"),
        "r_s": statistics.median(
            s - p[i] for r in dagster1 for i, s in enumerate(r["partial_in_step_s"])
        ),
        "m_s": median_of(dagster1, "merge_in_step_s") - (load + combine + finalise),
        "p_s": p,
        "merge_load_s": load,
        "merge_combine_s": combine,
        "merge_finalise_s": finalise,
    }
    a, b = fit_line(p) if variant == "rows" else (statistics.fmean(p), 0.0)
    params.update(a_s=a, b_s=b)

    def costs(count: int) -> list[float]:
        return [a * fragments / count + b * fragments * (i + 1) / count for i in range(count)]

    def merged(count: int) -> float:
        return count * (load + combine) / fragments + params["merge_finalise_s"]

    def wall(n: int, count: int) -> float:
        steps = [params["o_s"] + params["r_s"] + c for c in costs(count)]
        dagster = params["launcher_exit_s"] + 2 * params["o_s"] + params["list_s"] + params["m_s"]
        return dagster + makespan(n, steps) + merged(count)

    def engine(n: int, count: int) -> float:
        """The same without Dagster: no process, no step overhead, only the engine's work."""
        return makespan(n, costs(count)) + merged(count)

    blocks = math.ceil(rows / block_rows)
    return {
        "params": params,
        "block_rows": block_rows,
        "blocks": blocks,
        "predicted_s": {str(n): wall(n, fragments) for n in WORKERS},
        "projected_s": {str(n): wall(n, min(n, blocks)) for n in PROJECTED_WORKERS},
        "projected_engine_s": {str(n): engine(n, min(n, blocks)) for n in PROJECTED_WORKERS},
        "projected_fragments": {str(n): min(n, blocks) for n in PROJECTED_WORKERS},
    }


def contender_names(variants: list[str]) -> list[str]:
    names = ["single", "dagster_whole"]
    for variant in variants:
        names += [f"dagster_{variant}_{n}" for n in WORKERS] + [f"pieces_{variant}"]
    return names


def label(name: str, fragments: int) -> str:
    if name == "single":
        return "build_bundle, one process"
    if name == "dagster_whole":
        return "Dagster, Dataset (one step)"
    kind, variant, *workers = name.split("_")
    what = f"{fragments} row ranges" if variant == "rows" else f"{fragments} files"
    if kind == "pieces":
        return f"{what}: build_partial each + merge_partials, no Dagster"
    return f"Dagster, FragmentedDataset of {what}, max_concurrent {workers[0]}"


def run_contender(bench: Bench, name: str, round_no: int) -> dict[str, Any]:
    if name == "single":
        return bench.single()
    kind, variant, *workers = name.split("_")
    if kind == "pieces":
        return bench.pieces(variant, round_no)
    return bench.dagster(variant, int(workers[0]) if workers else 2, round_no)


def summary_table(samples: dict[str, list[dict[str, Any]]], fragments: int) -> str:
    header = ["contender", "n", "wall s", "min wall s", "CPU s, all processes", "op s", "op CPU s"]
    rows = []
    for name, records in samples.items():
        if not records:
            continue
        op = [
            f"{median_of(records, k):.3f}" if "seconds" in records[0] else "-"
            for k in ("seconds", "cpu_seconds")
        ]
        rows.append(
            [
                label(name, fragments),
                str(len(records)),
                f"{median_of(records, 'wall_s'):.3f}",
                f"{min(r['wall_s'] for r in records):.3f}",
                f"{median_of(records, 'tree_cpu_s'):.3f}",
                *op,
            ]
        )
    return markdown_table(header, rows)


def report(
    samples: dict[str, list[dict[str, Any]]], variants: list[str], fragments: int, rows: int
) -> dict[str, Any]:
    """Print the ratios, the Dagster overhead, the partial sizes and the projection."""
    single = samples["single"]
    s_wall, s_cpu = median_of(single, "wall_s"), median_of(single, "tree_cpu_s")
    s_op, s_op_cpu = median_of(single, "seconds"), median_of(single, "cpu_seconds")
    print(
        f"\nsingle build_bundle: process {s_wall:.3f} s wall, {s_cpu:.3f} s CPU; "
        f"the build alone {s_op:.3f} s wall, {s_op_cpu:.3f} s CPU"
    )
    whole = samples["dagster_whole"]
    if whole:
        print(
            f"Dagster, Dataset (one step): {median_of(whole, 'wall_s'):.3f} s wall, "
            f"{median_of(whole, 'tree_cpu_s'):.3f} s CPU"
        )
    out: dict[str, Any] = {}
    for variant in variants:
        d1, d2 = samples[f"dagster_{variant}_1"], samples[f"dagster_{variant}_2"]
        pieces = samples[f"pieces_{variant}"]
        if not (d1 and d2 and pieces):
            continue
        cpu2, wall2 = median_of(d2, "tree_cpu_s"), median_of(d2, "wall_s")
        partial_cpu = statistics.median(
            sum(p["cpu_seconds"] for p in r["partials"]) for r in pieces
        )
        merge_cpu = statistics.median(r["merge"]["cpu_seconds"] for r in pieces)
        merge_s = statistics.median(r["merge"]["seconds"] for r in pieces)
        fitted = model(variant, d1, pieces, fragments, rows)
        params = fitted["params"]
        ratios = {
            "cpu_over_single": cpu2 / s_cpu,
            "cpu_met": cpu2 / s_cpu <= TARGET_CPU_RATIO,
            "wall_2_over_single": wall2 / s_wall,
            "wall_met": wall2 / s_wall <= TARGET_WALL_RATIO,
            "cpu_over_single_build_alone": cpu2 / s_op_cpu,
            "wall_2_over_single_build_alone": wall2 / s_op,
            "pieces_cpu_over_single_build_alone": (partial_cpu + merge_cpu) / s_op_cpu,
            "dagster_cpu_beyond_pieces_s": cpu2 - partial_cpu - merge_cpu,
        }
        columns = _column_sizes(pieces)
        total = statistics.median(sum(p["bytes"] for p in r["partials"]) for r in pieces)
        what = f"{fragments} row ranges" if variant == "rows" else f"{fragments} files"
        print(f"\n== {what}")
        print(
            f"fragmented CPU (Dagster, 2 workers, all processes) / single CPU (process): "
            f"{ratios['cpu_over_single']:.2f} (target <= {TARGET_CPU_RATIO}: "
            f"{'met' if ratios['cpu_met'] else 'NOT met'}); / the build alone: "
            f"{ratios['cpu_over_single_build_alone']:.2f}"
        )
        print(
            f"wall with 2 workers / single wall (process): {ratios['wall_2_over_single']:.2f} "
            f"(target <= {TARGET_WALL_RATIO}: {'met' if ratios['wall_met'] else 'NOT met'}); "
            f"/ the build alone: {ratios['wall_2_over_single_build_alone']:.2f}"
        )
        print(
            f"without Dagster: build_partial x{fragments} {partial_cpu:.3f} s CPU + merge "
            f"{merge_cpu:.3f} s CPU = {ratios['pieces_cpu_over_single_build_alone']:.2f} x the "
            f"single build's CPU; Dagster's own CPU {ratios['dagster_cpu_beyond_pieces_s']:.2f} s"
        )
        print(
            f"merge: {merge_s * 1000:.1f} ms wall (read + decode "
            f"{params['merge_load_s'] * 1000:.1f} ms, combine "
            f"{params['merge_combine_s'] * 1000:.1f} ms, finalise "
            f"{params['merge_finalise_s'] * 1000:.1f} ms), {merge_cpu * 1000:.1f} ms CPU"
        )
        print(
            "per fragment build_partial + to_bytes: "
            + ", ".join(f"{x:.3f}" for x in params["p_s"])
            + " s"
        )
        print(
            f"Dagster overhead (serial run): launcher + exit {params['launcher_exit_s']:.2f} s, "
            f"per step o = {params['o_s']:.2f} s (process start to STEP_START "
            f"{statistics.median(x for r in d1 for x in r['step_start_s']):.2f} s), list step "
            f"{params['list_s']:.2f} s, partial step beyond its work r = {params['r_s']:.3f} s, "
            f"merge step beyond the merge m = {params['m_s']:.3f} s"
        )
        print(
            f"partial state: {total / 1e3:,.1f} KB for all {fragments} fragments, "
            f"{total / len(columns) / 1e3:,.1f} KB per column (per column: the table at the end)"
        )
        print("model: " + MODEL.format(block_rows=fitted["block_rows"], f0=fragments))
        if variant == "rows" and fitted["blocks"] < fragments:
            print(f"  only {fitted['blocks']} of the {fragments} row ranges hold rows")
        print(
            f"  fitted: a = {params['a_s']:.4f} s, b = {params['b_s']:.4f} s; "
            + "; ".join(
                f"predicted n={n}: {fitted['predicted_s'][str(n)]:.2f} s against measured "
                f"{median_of(samples[f'dagster_{variant}_{n}'], 'wall_s'):.2f} s"
                for n in WORKERS
            )
        )
        for n in PROJECTED_WORKERS:
            projected, engine = fitted["projected_s"][str(n)], fitted["projected_engine_s"][str(n)]
            count = fitted["projected_fragments"][str(n)]
            print(
                f"  projected n={n} (F={count}): {projected:.2f} s, "
                f"speedup over the single process {s_wall / projected:.2f}x; the engine's work "
                f"alone (no Dagster, no process starts) {engine:.3f} s, speedup over the single "
                f"build alone {s_op / engine:.2f}x"
            )
        out[variant] = {
            "ratios": ratios,
            "model": fitted,
            "partial_bytes_total": total,
            "partial_column_bytes": columns,
        }
    if out:
        print(
            "\npartial state per column, bytes summed over the fragments (to_bytes of the "
            "partial with that column alone, less that of one with no column):"
        )
        header = [
            "column",
            *(f"{v}: all fragments" for v in out),
            *(f"{v}: per fragment" for v in out),
        ]
        sizes = [out[v]["partial_column_bytes"] for v in out]
        print(
            markdown_table(
                header,
                [
                    [c, *(f"{s[c]:,}" for s in sizes), *(f"{s[c] // fragments:,}" for s in sizes)]
                    for c in sizes[0]
                ],
            )
        )
    return out


def _column_sizes(pieces: list[dict[str, Any]]) -> dict[str, int]:
    """Median over rounds of each column's bytes summed over the fragments."""
    names = pieces[0]["partials"][0]["column_bytes"]
    return {
        c: int(statistics.median(sum(p["column_bytes"][c] for p in r["partials"]) for r in pieces))
        for c in names
    }


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_fragments", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--fragments", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the alternation")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="rows, files or both")
    parser.add_argument(
        "--start-method",
        choices=("spawn", "forkserver"),
        default="spawn",
        help="how the multiprocess executor starts steps (spawn: Dagster's default)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec.pop("kind")](spec)))
        return 0
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS) or args.repeats < 1 or args.fragments < 1:
        parser.error("--variants takes rows and files; --repeats and --fragments must be >= 1")

    started = dt.datetime.now(dt.UTC)
    command = shlex.join(["python", "-m", "benchmarks.bench_fragments", *argv])
    facts, load_before = machine_facts(), load_average()
    facts["subreaper"] = become_subreaper()
    print(f"command: {command}")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
    source = data_file("mixed", args.rows)
    folder = DATA_DIR / f"{source.stem}_{args.fragments}files"
    if "files" in variants:
        child("split", source=str(source), folder=str(folder), count=args.fragments)
    names = contender_names(variants)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_fragments_") as tmp:
        bench = Bench(Path(tmp), ROOT / source, ROOT / folder, args.fragments, args.start_method)
        # Untimed: the page cache, and the Dagster instance's storage created.
        bench.single()
        bench.dagster(variants[0], 2, 0)
        for round_no in range(1, args.repeats + 1):
            shift = (round_no - 1) % len(names)
            for name in names[shift:] + names[:shift]:
                if name in errors:
                    continue
                try:
                    record = run_contender(bench, name, round_no)
                except ChildFailed as exc:
                    errors[name] = str(exc)
                    print(f"  round {round_no}: {name} FAILED", flush=True)
                    continue
                record.update(round=round_no, load1_after=(load_average() or [None])[0])
                samples[name].append(record)
                print(
                    f"  round {round_no}: {name:<18} {record['wall_s']:8.3f} s wall"
                    f"  {record['tree_cpu_s']:8.3f} s CPU",
                    flush=True,
                )
    table = summary_table(samples, args.fragments)
    print(
        f"\n{args.rows:,} rows x 20 columns (mixed), {args.fragments} fragments, medians of "
        f"{args.repeats} round(s); wall and CPU of whole processes (interpreter, imports and "
        "all child processes), op = the build or merge alone, timed inside the process"
    )
    print(table)
    variants_ok = [v for v in variants if all(samples[n] for n in names if f"_{v}" in n)]
    results = report(samples, variants_ok, args.fragments, args.rows) if samples["single"] else {}
    out = {
        **run_header(command, started, facts, load_before),
        "rows": args.rows,
        "fragments": args.fragments,
        "repeats": args.repeats,
        "file": source.as_posix(),
        "units": {
            "wall_s": "wall seconds around the process",
            "tree_cpu_s": "user + system seconds of the process and every process it started",
            "seconds / cpu_seconds": "the operation alone, inside the process",
        },
        "labels": {name: label(name, args.fragments) for name in names},
        "targets": {
            "cpu_over_single_max": TARGET_CPU_RATIO,
            "wall_2_over_single_max": TARGET_WALL_RATIO,
        },
        "model": MODEL,
        "table": table,
        "variants": results,
        "samples": samples,
        "errors": errors,
    }
    results_file = RESULTS_FILE.with_name(f"fragments-{args.start_method}.json")
    path = ROOT / results_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {results_file.as_posix()}")
    for name, message in errors.items():
        print(f"--- FAILED {name}\n{message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
