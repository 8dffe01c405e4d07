"""Benchmark reading bundles back: ``load_bundle`` from memory, disk, a new process and S3.

One command (run from the repository root)::

    python -m benchmarks.bench_load [--rows 100000] [--blocks 5] [--hit-calls 20000]
                                    [--miss-calls 100] [--fresh-rounds 20]
                                    [--s3-calls 40] [--put-repeats 15] [--profile]

It builds one bundle (20 columns, default ``StatsConfig``, so a 1,000-row
window) from the synthetic file of ``benchmarks.generate`` and measures:

1. a hit of the in-process cache: ``load_bundle(data_id, store=url, config=id)``
   after a first load, timed call by call;
2. a local miss: the same call with ``cache=False`` on a ``file://`` store;
3. a fresh interpreter: ``python -c "import buckaroo_assets as ba;
   ba.load_bundle(...)"`` against ``python -c "import pyarrow.parquet, fsspec"``
   (and ``python -c pass``), alternated round-robin, wall time of the whole
   subprocess seen from this process.  The children may cache bytecode (under
   ``benchmarks/data/pycache``, as an installed package would have it); when
   this process runs with ``PYTHONDONTWRITEBYTECODE`` the three commands are
   measured again as inherited, where buckaroo_assets is compiled from source
   in every process;
4. S3 on loopback: a moto ``ThreadedMotoServer`` started here on 127.0.0.1,
   reached through s3fs like any S3: ``load_bundle(..., cache=False)`` with a
   warm client, and as anchors one boto3 ``get_object`` of the pack and a
   naive ``pq.read_table("s3://.../a.parquet", filesystem=s3fs)`` of the same
   window Parquet.  HTTP requests are counted twice: by a botocore
   ``before-send`` hook on each client and by a wrapper around moto's WSGI
   app (what the server actually received);
5. ``BundleStore.put`` into a new local folder / S3 prefix each time (so the
   pack is always written), ``pack_bundle`` alone, and the stored bytes.

The local sections run first and the S3 server is started last, so nothing
else measured competes with it.  The put, hit and local-miss sections run in
this process.  For each section the harness also records how many cores other
processes kept busy (``/proc/stat`` minus this process's own CPU time), since
the machine may be shared.

Timed sections run in ``--blocks`` blocks so the spread between block medians
shows how noisy the machine was.  ``--profile`` adds a cProfile of the local
and the S3 miss.  Results go to ``benchmarks/results/load.json``; see
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import hashlib
import json
import logging
import math
import os
import pstats
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks._table import markdown_table
from benchmarks.bench_build import (
    ROOT,
    _version,
    data_file,
    load_average,
    machine_facts,
)

RESULTS_FILE = Path("benchmarks") / "results" / "load.json"
STORE_DIR = Path("benchmarks") / "data" / "load_store"
PYCACHE_DIR = Path("benchmarks") / "data" / "pycache"
DATA_ID = "bench-load"
CHILD_TIMEOUT_S = 120

# Targets, also stated in docs/benchmarks.md.
TARGET_HIT_US = 50.0  # median of an in-process cache hit
TARGET_LOCAL_MS = 3.0  # p50 of a local (file://) miss
TARGET_FRESH_RATIO = 1.2  # fresh-process load / fresh-process `import pyarrow.parquet, fsspec`
TARGET_S3_MS = 20.0  # p50 of an S3 (moto on loopback) miss with a warm client

S3_KEY = "testing"
S3_REGION = "us-east-1"


# ---------------------------------------------------------------------- statistics


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]) of ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def describe(values: list[float], blocks: list[list[float]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": len(values),
        "p50": statistics.median(values),
        "p95": pct(values, 0.95),
        "p99": pct(values, 0.99),
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
    }
    if blocks:
        out["block_p50"] = [statistics.median(b) for b in blocks]
    return out


def timed_blocks(
    call: Callable[[], Any], blocks: int, calls: int, scale: float
) -> tuple[list[float], list[list[float]]]:
    """Time ``call`` one call at a time, ``blocks`` x ``calls``; durations in ns / ``scale``."""
    clock = time.perf_counter_ns
    per_block: list[list[float]] = []
    for _ in range(blocks):
        raw = []
        for _ in range(calls):
            started = clock()
            call()
            raw.append(clock() - started)
        per_block.append([d / scale for d in raw])
    return [d for b in per_block for d in b], per_block


def fmt_blocks(block_p50: list[float], digits: int) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" for v in block_p50) + "]"


# ---------------------------------------------------------------------- noise


class CpuMonitor:
    """How busy the machine was per section, and how much of that was someone else.

    Busy time of all CPUs comes from ``/proc/stat``; this process's own share
    (its threads, the moto server included, and its waited-for children) from
    ``os.times()``.  ``other_cores`` is the average number of cores other
    processes kept busy during the section: 0 on a quiet machine.
    """

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, float]] = {}
        self._last = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float | None, float]:
        busy = None
        try:
            with open("/proc/stat") as fh:
                fields = [int(x) for x in fh.readline().split()[1:]]
            # user nice system idle iowait irq softirq steal ...: all but idle and iowait
            busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
        t = os.times()
        return time.monotonic(), busy, t.user + t.system + t.children_user + t.children_system

    def mark(self, section: str) -> dict[str, float]:
        now = self._sample()
        (t0, busy0, own0), (t1, busy1, own1) = self._last, now
        self._last = now
        wall = t1 - t0
        entry = {"wall_s": round(wall, 2), "own_cores": round((own1 - own0) / wall, 2)}
        if busy0 is not None and busy1 is not None:
            entry["busy_cores"] = round((busy1 - busy0) / wall, 2)
            entry["other_cores"] = round(max(0.0, (busy1 - busy0) - (own1 - own0)) / wall, 2)
        entry["load1"] = (load_average() or [float("nan")])[0]
        self.sections[section] = entry
        return entry


# ---------------------------------------------------------------------- request counting


class RequestLog:
    """HTTP requests seen by one side (client hook or server), as (method, path) pairs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    def add(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def __len__(self) -> int:
        with self._lock:
            return len(self.requests)

    def since(self, start: int) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.requests[start:])


class CountingApp:
    """Wraps moto's WSGI app: every request the server receives is logged."""

    def __init__(self, app: Any, log: RequestLog) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING")
        path = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        self.log.add(environ.get("REQUEST_METHOD", "?"), path)
        return self.app(environ, start_response)


def hook_client(client: Any, log: RequestLog) -> None:
    """Log every request a botocore / aiobotocore S3 client is about to send."""
    from urllib.parse import urlsplit

    def before_send(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        log.add(request.method, parts.path + (f"?{parts.query}" if parts.query else ""))
        return None

    client.meta.events.register("before-send.s3", before_send)


def summarize_requests(requests: list[tuple[str, str]]) -> list[str]:
    """'GET .../manifest.json' style lines, long keys shortened to their last part."""
    return [f"{method} .../{path.split('?')[0].rsplit('/', 1)[-1]}" for method, path in requests]


# ---------------------------------------------------------------------- sections


def build(path: Path) -> tuple[Any, float]:
    import buckaroo_assets as ba

    started = time.perf_counter()
    bundle = ba.build_bundle(str(ROOT / path), data_id=DATA_ID)
    return bundle, time.perf_counter() - started


def stored_bytes(fs: Any, root: str) -> dict[str, int]:
    """Every object under a store root and its size."""
    return {p.rsplit("/v1/", 1)[-1]: int(s) for p, s in fs.du(root, total=False).items()}


def measure_put_local(bundle: Any, store_root: Path, repeats: int) -> dict[str, Any]:
    """``BundleStore.put`` into a new, empty folder each time (the pack is always written)."""
    from buckaroo_assets.store.bundle_store import BundleStore
    from buckaroo_assets.store.packing import pack_bundle

    pack_ms = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        pack_bundle(bundle)
        pack_ms.append((time.perf_counter_ns() - started) / 1e6)
    put_ms = []
    for i in range(repeats + 1):
        folder = store_root / f"put-{i}"
        store = BundleStore(folder.as_uri())
        started = time.perf_counter_ns()
        store.put(bundle)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if i:  # the first put (imports, first makedirs) is a warm-up
            put_ms.append(elapsed)
        shutil.rmtree(folder)
    return {"put_ms": describe(put_ms), "pack_bundle_ms": describe(pack_ms)}


def measure_hits(url: str, config_id: str, blocks: int, calls: int) -> dict[str, Any]:
    import buckaroo_assets as ba

    ba.clear_cache()
    first = ba.load_bundle(DATA_ID, store=url, config=config_id)
    assert ba.load_bundle(DATA_ID, store=url, config=config_id) is first

    def call() -> Any:
        return ba.load_bundle(DATA_ID, store=url, config=config_id)

    before = ba.cache_report()
    values, per_block = timed_blocks(call, blocks, calls, 1e3)  # microseconds
    after = ba.cache_report()
    out = describe(values, per_block)
    out["unit"] = "us"
    out["cache_hits_counted"] = after["hits"] - before["hits"]
    out["cache_misses_counted"] = after["misses"] - before["misses"]
    return out


def check_bundle(bundle: Any, rows: int) -> None:
    if bundle.rows != rows or len(bundle.stats) != 20 or bundle.first_window.num_rows != 1000:
        raise RuntimeError(f"unexpected bundle loaded: {bundle!r}")


def measure_miss(
    load: Callable[[], Any], rows: int, blocks: int, calls: int, warmup: int
) -> dict[str, Any]:
    for _ in range(warmup):
        check_bundle(load(), rows)
    values, per_block = timed_blocks(load, blocks, calls, 1e6)  # milliseconds
    out = describe(values, per_block)
    out["unit"] = "ms"
    return out


def profile(call: Callable[[], Any], calls: int, top: int = 12) -> dict[str, Any]:
    """cProfile ``calls`` calls; the top functions by own time and by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)

    def rows(key: str) -> list[dict[str, Any]]:
        entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2 if key == "tottime" else 3])  # type: ignore[attr-defined]
        out = []
        for (filename, line, name), (_, ncalls, tottime, cumtime, _) in reversed(entries[-top:]):
            short = filename.split("site-packages/")[-1].split(f"{ROOT}/")[-1]
            out.append(
                {
                    "function": f"{short}:{line}({name})",
                    "calls_per_load": round(ncalls / calls, 2),
                    "tottime_ms_per_load": round(tottime / calls * 1e3, 4),
                    "cumtime_ms_per_load": round(cumtime / calls * 1e3, 4),
                }
            )
        return out

    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    return {
        "calls": calls,
        "profiled_ms_per_load": round(total / calls * 1e3, 4),
        "by_tottime": rows("tottime"),
        "by_cumtime": rows("cumtime"),
    }


def print_profile(title: str, prof: dict[str, Any]) -> None:
    print(f"\ncProfile, {title}: {prof['profiled_ms_per_load']:.3f} ms per load under the profiler")
    for key, label in (("by_tottime", "own time"), ("by_cumtime", "cumulative")):
        print(f"  top by {label} (ms per load):")
        for row in prof[key]:
            value = row["tottime_ms_per_load" if key == "by_tottime" else "cumtime_ms_per_load"]
            print(f"    {value:8.3f}  x{row['calls_per_load']:<8g} {row['function']}")


# ---------------------------------------------------------------------- fresh process


def fresh_commands(url: str, config_id: str) -> dict[str, list[str]]:
    load = (
        "import buckaroo_assets as ba; "
        f"ba.load_bundle({DATA_ID!r}, store={url!r}, config={config_id!r})"
    )
    return {
        "load_bundle": [sys.executable, "-c", load],
        "import_baseline": [sys.executable, "-c", "import pyarrow.parquet, fsspec"],
        "python_pass": [sys.executable, "-c", "pass"],
    }


def bytecode_env(cached: bool) -> dict[str, str]:
    """The children's environment: with a bytecode cache (as after ``pip install``) or as inherited.

    With ``cached`` the children may write and read ``.pyc`` files, kept under
    ``PYCACHE_DIR`` (``PYTHONPYCACHEPREFIX``) rather than in the source tree;
    the untimed warm-up run fills it, for the baseline and the load alike.
    """
    env = dict(os.environ)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(ROOT / PYCACHE_DIR)
    return env


def run_timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter_ns()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
    )
    elapsed = (time.perf_counter_ns() - started) / 1e6
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{proc.stderr}")
    return elapsed


def measure_fresh(url: str, config_id: str, rounds: int, cached: bool) -> dict[str, Any]:
    commands = fresh_commands(url, config_id)
    env = bytecode_env(cached)
    names = list(commands)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # untimed warm-up: page cache, .pyc files
        run_timed(commands[name], env)
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(run_timed(commands[name], env))
    out: dict[str, Any] = {
        "bytecode_cache": cached,
        "env": {k: env.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")},
        "commands": {name: shlex.join(["python", *cmd[1:]]) for name, cmd in commands.items()},
        "ms": {name: describe(values) for name, values in samples.items()},
        "samples_ms": samples,
    }
    base = out["ms"]["import_baseline"]["p50"]
    out["ratio_p50"] = out["ms"]["load_bundle"]["p50"] / base
    out["ratio_min"] = out["ms"]["load_bundle"]["min"] / out["ms"]["import_baseline"]["min"]
    # Each round runs both commands back to back: the median of the per-round ratios
    # is less sensitive to load that comes and goes between rounds.
    out["ratio_paired_median"] = statistics.median(
        a / b for a, b in zip(samples["load_bundle"], samples["import_baseline"], strict=True)
    )
    out["diagnosis"] = fresh_diagnosis(commands, env)
    return out


def _top_level_imports(stderr: str, top: int) -> list[dict[str, Any]]:
    """Top-level entries of ``-X importtime`` output, largest cumulative time first."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.startswith("  ") or not cumulative.strip().isdigit():
            continue  # nested import, or the header line
        found.append({"module": name.strip(), "cumulative_ms": int(cumulative) / 1e3})
    found.sort(key=lambda e: -e["cumulative_ms"])
    return found[:top]


def fresh_diagnosis(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, Any]:
    """Which modules a fresh load imports beyond the baseline, and the costliest imports."""
    report: dict[str, Any] = {}
    modules: dict[str, set[str]] = {}
    for name in ("load_bundle", "import_baseline"):
        code = commands[name][2] + "; import sys, json; print(json.dumps(sorted(sys.modules)))"
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        modules[name] = set(json.loads(proc.stdout.splitlines()[-1]))
        timed = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", commands[name][2]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        report[f"{name}_top_imports"] = _top_level_imports(timed.stderr, 8)
        report[f"{name}_module_count"] = len(modules[name])
    extra = modules["load_bundle"] - modules["import_baseline"]
    report["extra_module_count"] = len(extra)
    report["extra_top_packages"] = sorted({m.split(".")[0] for m in extra})
    for heavy in ("pandas", "pyarrow.dataset", "numpy", "pyarrow.compute", "s3fs", "dagster"):
        report[f"imports_{heavy}"] = heavy in modules["load_bundle"]
    return report


# ---------------------------------------------------------------------- S3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server() -> Iterator[tuple[str, RequestLog]]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    log = RequestLog()
    server._server.app = CountingApp(server._server.app, log)  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        server.stop()


def storage_options(endpoint: str) -> dict[str, Any]:
    return {
        "key": S3_KEY,
        "secret": S3_KEY,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": S3_REGION},
    }


def boto3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        region_name=S3_REGION,
    )


def window_parquet(manifest_raw: bytes, pack: bytes) -> bytes:
    """The window part of a pack: the exact Parquet bytes the bundle stores."""
    from buckaroo_assets.bundle import codec

    manifest = codec.loads(manifest_raw)
    part = next(p for p in manifest["parts"] if p["name"] == "window")  # type: ignore[index]
    if part["media_type"] != "application/vnd.apache.parquet":
        raise RuntimeError(f"window is stored as {part['media_type']}, not Parquet")
    return pack[part["offset"] : part["offset"] + part["size"]]


def measure_s3(
    bundle: Any, rows: int, blocks: int, calls: int, put_repeats: int, do_profile: bool
) -> dict[str, Any]:
    import pyarrow.parquet as pq
    import s3fs

    import buckaroo_assets as ba
    from buckaroo_assets.store.bundle_store import BundleStore
    from buckaroo_assets.store.locate import open_store

    out: dict[str, Any] = {}
    with moto_server() as (endpoint, server_log):
        opts = storage_options(endpoint)
        client = boto3_client(endpoint)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        print(f"  moto S3 at {endpoint}, bucket {bucket}", flush=True)

        # --- put: a new prefix each time, so the pack is always written.
        put_ms = []
        put_requests: list[tuple[str, str]] = []
        for i in range(put_repeats + 1):
            store = BundleStore(f"s3://{bucket}/put-{i}", opts)
            store.fs.connect()  # the client exists before the clock starts
            start = len(server_log)
            started = time.perf_counter_ns()
            store.put(bundle)
            elapsed = (time.perf_counter_ns() - started) / 1e6
            if i:
                put_ms.append(elapsed)
            else:
                put_requests = server_log.since(start)
        out["put_ms"] = describe(put_ms)
        out["put_requests"] = summarize_requests(put_requests)
        print(
            f"  put: p50 {out['put_ms']['p50']:.2f} ms, {len(put_requests)} requests: "
            f"{', '.join(out['put_requests'])}",
            flush=True,
        )

        # --- load_bundle with a warm client.
        url = f"s3://{bucket}/bundles"
        BundleStore(url, opts).put(bundle)
        prefix = f"bundles/v1/bundles/{DATA_ID}/{bundle.config_id}"
        listing = client.list_objects_v2(Bucket=bucket, Prefix=f"bundles/v1/bundles/{DATA_ID}/")
        out["stored_objects"] = {
            o["Key"].removeprefix("bundles/v1/"): o["Size"] for o in listing["Contents"]
        }
        pack_key = next(k for k in out["stored_objects"] if "/pack-" in k)
        pack_key = f"bundles/v1/{pack_key}"

        def load() -> Any:
            return ba.load_bundle(
                DATA_ID, store=url, config=bundle.config_id, storage_options=opts, cache=False
            )

        check_bundle(load(), rows)  # opens the store, the client and the connection
        st = open_store(url, opts)
        client_log = RequestLog()
        hook_client(st.fs.s3, client_log)
        c0, s0 = len(client_log), len(server_log)
        check_bundle(load(), rows)
        one_load = server_log.since(s0)
        out["load_requests"] = summarize_requests(one_load)
        c1, s1 = len(client_log), len(server_log)
        out["load_ms"] = measure_miss(load, rows, blocks, calls, warmup=5)
        loads = blocks * calls + 5
        out["requests_per_load_client"] = (len(client_log) - c1) / loads
        out["requests_per_load_server"] = (len(server_log) - s1) / loads
        out["requests_first_counted_load"] = {"client": c1 - c0, "server": s1 - s0}
        print(
            f"  load_bundle: p50 {out['load_ms']['p50']:.2f} ms, requests per load "
            f"{out['requests_per_load_client']:g} (client hook) / "
            f"{out['requests_per_load_server']:g} (server): {', '.join(out['load_requests'])}",
            flush=True,
        )
        if do_profile:
            out["profile"] = profile(load, 100)

        # --- anchor: one plain boto3 get_object of the pack (warm client).
        hook_client(client, client_log)

        def get_pack() -> bytes:
            return client.get_object(Bucket=bucket, Key=pack_key)["Body"].read()

        pack = get_pack()
        c1, s1 = len(client_log), len(server_log)
        values, per_block = timed_blocks(get_pack, blocks, calls, 1e6)
        out["boto3_get_pack_ms"] = describe(values, per_block)
        out["boto3_requests_per_get"] = (len(server_log) - s1) / (blocks * calls)
        out["boto3_requests_per_get_client"] = (len(client_log) - c1) / (blocks * calls)
        out["pack_bytes"] = len(pack)

        # --- anchor: a naive s3fs + pyarrow read of the same window Parquet.
        manifest_raw = client.get_object(Bucket=bucket, Key=f"{prefix}/manifest.json")[
            "Body"
        ].read()
        window = window_parquet(manifest_raw, pack)
        client.put_object(Bucket=bucket, Key="naive/a.parquet", Body=window)
        naive_fs = s3fs.S3FileSystem(skip_instance_cache=True, **opts)  # s3fs defaults
        naive_fs.connect()
        hook_client(naive_fs.s3, client_log)
        naive_url = f"s3://{bucket}/naive/a.parquet"

        def naive() -> Any:
            return pq.read_table(naive_url, filesystem=naive_fs)

        if naive().num_rows != bundle.first_window.num_rows:
            raise RuntimeError("the naive read returned another row count")
        s0 = len(server_log)
        naive()
        out["naive_requests"] = summarize_requests(server_log.since(s0))
        c1, s1 = len(client_log), len(server_log)
        naive_calls = max(1, calls // 2)
        values, per_block = timed_blocks(naive, blocks, naive_calls, 1e6)
        out["naive_read_ms"] = describe(values, per_block)
        out["naive_requests_per_read"] = (len(server_log) - s1) / (blocks * naive_calls)
        out["naive_requests_per_read_client"] = (len(client_log) - c1) / (blocks * naive_calls)
        out["window_parquet_bytes"] = len(window)
        print(
            f"  anchors: boto3 get_object p50 {out['boto3_get_pack_ms']['p50']:.2f} ms; naive "
            f"pq.read_table p50 {out['naive_read_ms']['p50']:.2f} ms, "
            f"{out['naive_requests_per_read']:g} requests: {', '.join(out['naive_requests'])}",
            flush=True,
        )
    return out


# ---------------------------------------------------------------------- report


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def format_table(rows: list[list[str]]) -> str:
    header = ["measurement", "n", "p50", "tail", "target", "met"]
    return markdown_table(header, rows)


def table_rows(res: dict[str, Any]) -> tuple[list[list[str]], dict[str, bool]]:
    rows: list[list[str]] = []
    met: dict[str, bool] = {}
    hit = res["hit"]
    met["hit"] = hit["p50"] <= TARGET_HIT_US
    rows.append(
        [
            "1. cache hit: load_bundle (in-process LRU)",
            str(hit["n"]),
            f"{hit['p50']:.1f} us",
            f"p99 {hit['p99']:.1f} us",
            f"p50 <= {TARGET_HIT_US:g} us",
            verdict(met["hit"]),
        ]
    )
    loc = res["local_miss"]
    met["local"] = loc["p50"] <= TARGET_LOCAL_MS
    rows.append(
        [
            "2. local miss: load_bundle(cache=False), file://",
            str(loc["n"]),
            f"{loc['p50']:.2f} ms",
            f"p95 {loc['p95']:.2f} ms",
            f"p50 <= {TARGET_LOCAL_MS:g} ms",
            verdict(met["local"]),
        ]
    )
    for key, label in (("fresh", ".pyc cached"), ("fresh_no_pyc", "no .pyc written")):
        if key not in res:
            continue
        fr = res[key]
        ms = fr["ms"]
        met[key] = fr["ratio_p50"] <= TARGET_FRESH_RATIO
        rows.append(
            [
                f"3. fresh process, {label}: python -c 'load_bundle(...)'",
                str(ms["load_bundle"]["n"]),
                f"{ms['load_bundle']['p50']:.0f} ms",
                f"min {ms['load_bundle']['min']:.0f} ms",
                "",
                "",
            ]
        )
        rows.append(
            [
                "   baseline: python -c 'import pyarrow.parquet, fsspec'",
                str(ms["import_baseline"]["n"]),
                f"{ms['import_baseline']['p50']:.0f} ms",
                f"min {ms['import_baseline']['min']:.0f} ms",
                "",
                "",
            ]
        )
        rows.append(
            [
                "   (python -c pass)",
                str(ms["python_pass"]["n"]),
                f"{ms['python_pass']['p50']:.0f} ms",
                f"min {ms['python_pass']['min']:.0f} ms",
                "",
                "",
            ]
        )
        rows.append(
            [
                "   ratio load / baseline (of p50s)",
                "",
                f"{fr['ratio_p50']:.2f}x",
                f"of minima {fr['ratio_min']:.2f}x",
                f"<= {TARGET_FRESH_RATIO:g}x",
                verdict(met[key]),
            ]
        )
        rows.append(
            ["   median of per-round ratios", "", f"{fr['ratio_paired_median']:.2f}x", "", "", ""]
        )
    s3 = res.get("s3")
    if s3:
        ld = s3["load_ms"]
        met["s3"] = ld["p50"] <= TARGET_S3_MS
        rows.append(
            [
                "4. S3 miss: load_bundle(cache=False), warm client",
                str(ld["n"]),
                f"{ld['p50']:.2f} ms",
                f"p95 {ld['p95']:.2f} ms",
                f"p50 <= {TARGET_S3_MS:g} ms",
                verdict(met["s3"]),
            ]
        )
        rows.append(
            [
                "   HTTP requests per load (server / client hook)",
                "",
                f"{s3['requests_per_load_server']:g} / {s3['requests_per_load_client']:g}",
                "",
                "",
                "",
            ]
        )
        bg = s3["boto3_get_pack_ms"]
        rows.append(
            [
                f"   anchor: boto3 get_object of the pack ({s3['pack_bytes']:,} B)",
                str(bg["n"]),
                f"{bg['p50']:.2f} ms",
                f"p95 {bg['p95']:.2f} ms",
                "",
                "",
            ]
        )
        nv = s3["naive_read_ms"]
        rows.append(
            [
                f"   anchor: pq.read_table(s3://.../a.parquet, filesystem=s3fs), "
                f"{s3['naive_requests_per_read']:g} requests",
                str(nv["n"]),
                f"{nv['p50']:.2f} ms",
                f"p95 {nv['p95']:.2f} ms",
                "",
                "",
            ]
        )
    put = res["put_local"]
    rows.append(
        [
            "5. BundleStore.put, local folder",
            str(put["put_ms"]["n"]),
            f"{put['put_ms']['p50']:.2f} ms",
            f"p95 {put['put_ms']['p95']:.2f} ms",
            "",
            "",
        ]
    )
    if s3:
        rows.append(
            [
                f"   BundleStore.put, S3 ({len(s3['put_requests'])} requests)",
                str(s3["put_ms"]["n"]),
                f"{s3['put_ms']['p50']:.2f} ms",
                f"p95 {s3['put_ms']['p95']:.2f} ms",
                "",
                "",
            ]
        )
    rows.append(
        [
            "   of which pack_bundle (serialise, no I/O)",
            str(put["pack_bundle_ms"]["n"]),
            f"{put['pack_bundle_ms']['p50']:.2f} ms",
            f"p95 {put['pack_bundle_ms']['p95']:.2f} ms",
            "",
            "",
        ]
    )
    sizes = res["stored"]
    rows.append(
        [
            "   stored bytes (manifest + pack + latest.json)",
            "",
            f"{sum(sizes.values()):,} B",
            "",
            "",
            "",
        ]
    )
    return rows, met


def git_state() -> dict[str, Any]:
    """The commit measured, and which files of the package differed from it."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    diff = git("diff", "HEAD", "--", "buckaroo_assets")
    return {
        "head": git("rev-parse", "HEAD"),
        "modified": git("status", "--porcelain", "--", "buckaroo_assets").splitlines(),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
    }


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "benchmarks.bench_load", *argv])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_load",
        description="Benchmark load_bundle (cache hit, local, fresh process, S3) and put.",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the source file")
    parser.add_argument("--blocks", type=int, default=5, help="blocks per timed section")
    parser.add_argument("--hit-calls", type=int, default=20_000, help="cache hits per block")
    parser.add_argument("--miss-calls", type=int, default=100, help="local misses per block")
    parser.add_argument("--fresh-rounds", type=int, default=20, help="fresh-process rounds")
    parser.add_argument("--s3-calls", type=int, default=40, help="S3 loads per block")
    parser.add_argument("--put-repeats", type=int, default=15, help="puts per store")
    parser.add_argument("--skip-s3", action="store_true", help="skip the S3 section")
    parser.add_argument("--profile", action="store_true", help="cProfile the local and S3 miss")
    args = parser.parse_args(argv)
    counts = (
        args.rows,
        args.blocks,
        args.hit_calls,
        args.miss_calls,
        args.fresh_rounds,
        args.s3_calls,
        args.put_repeats,
    )
    if min(counts) < 1:
        parser.error("every count must be >= 1")

    started = dt.datetime.now(dt.UTC)
    git_start = git_state()
    facts = machine_facts()
    for dist in ("fsspec", "s3fs", "aiobotocore", "boto3", "botocore", "moto"):
        facts[dist] = _version(dist)
    load_start = load_average()
    cpu = CpuMonitor()

    def noise(section: str) -> None:
        e = cpu.mark(section)
        print(
            f"  ({section}: {e['wall_s']} s; other processes kept "
            f"{e.get('other_cores', float('nan')):.2f} of {os.cpu_count()} cores busy, "
            f"load1 {e['load1']})",
            flush=True,
        )

    print(f"command: {command_line(argv)}")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)

    import buckaroo_assets as ba
    from buckaroo_assets.store.bundle_store import BundleStore

    path = data_file("mixed", args.rows)
    bundle, build_s = build(path)
    check_bundle(bundle, args.rows)
    print(f"\nbuilt {bundle!r} from {path} in {build_s:.2f} s", flush=True)

    store_root = ROOT / STORE_DIR
    shutil.rmtree(store_root, ignore_errors=True)
    store_root.mkdir(parents=True)
    url = (store_root / "main").as_uri()
    store = BundleStore(url)
    entry = store.put(bundle)
    res: dict[str, Any] = {
        "store_url": url,
        "data_id": DATA_ID,
        "config_id": bundle.config_id,
        "stored": stored_bytes(store.fs, store.root),
        "manifest_bytes": entry.manifest_bytes,
        "pack_bytes": entry.pack_bytes,
        "window_rows": bundle.first_window.num_rows,
        "build_seconds": build_s,
    }
    print(f"stored objects: {res['stored']}", flush=True)
    noise("build")

    print(f"\n[5] put, local: {args.put_repeats} puts into new folders", flush=True)
    res["put_local"] = measure_put_local(bundle, store_root, args.put_repeats)
    print(f"  put p50 {res['put_local']['put_ms']['p50']:.2f} ms", flush=True)
    noise("put_local")

    print(f"\n[1] cache hits: {args.blocks} x {args.hit_calls:,} calls", flush=True)
    res["hit"] = measure_hits(url, bundle.config_id, args.blocks, args.hit_calls)
    print(
        f"  p50 {res['hit']['p50']:.2f} us, p99 {res['hit']['p99']:.2f} us, block p50 "
        f"{fmt_blocks(res['hit']['block_p50'], 2)} us",
        flush=True,
    )
    noise("hit")

    def local_load() -> Any:
        return ba.load_bundle(DATA_ID, store=url, config=bundle.config_id, cache=False)

    print(f"\n[2] local misses: {args.blocks} x {args.miss_calls} calls", flush=True)
    res["local_miss"] = measure_miss(local_load, args.rows, args.blocks, args.miss_calls, 20)
    lm = res["local_miss"]
    print(
        f"  p50 {lm['p50']:.3f} ms, p95 {lm['p95']:.3f} ms, block p50 "
        f"{fmt_blocks(lm['block_p50'], 3)} ms",
        flush=True,
    )
    noise("local_miss")
    if args.profile:
        res["local_miss_profile"] = profile(local_load, 300)
        noise("local_miss_profile")

    # With PYTHONDONTWRITEBYTECODE set (as in some sandboxes and containers) every fresh
    # process compiles buckaroo_assets from source; installed packages ship .pyc files.
    # The target is judged with a bytecode cache; the inherited setting is shown too.
    modes = [("fresh", True)]
    if sys.flags.dont_write_bytecode:
        modes.append(("fresh_no_pyc", False))
    for key, cached in modes:
        what = "with a .pyc cache" if cached else "as inherited (PYTHONDONTWRITEBYTECODE set)"
        print(f"\n[3] fresh processes {what}: {args.fresh_rounds} rounds x 3 commands", flush=True)
        res[key] = measure_fresh(url, bundle.config_id, args.fresh_rounds, cached)
        fr = res[key]
        print(
            f"  load_bundle p50 {fr['ms']['load_bundle']['p50']:.1f} ms, baseline p50 "
            f"{fr['ms']['import_baseline']['p50']:.1f} ms, ratio {fr['ratio_p50']:.2f} "
            f"(median of per-round ratios {fr['ratio_paired_median']:.2f})",
            flush=True,
        )
        noise(key)

    if not args.skip_s3:
        print(f"\n[4] S3 on loopback: {args.blocks} x {args.s3_calls} loads", flush=True)
        res["s3"] = measure_s3(
            bundle, args.rows, args.blocks, args.s3_calls, args.put_repeats, args.profile
        )
        noise("s3")

    rows, met = table_rows(res)
    table = format_table(rows)
    print(
        f"\nResults: bundle of {args.rows:,} rows x 20 columns, window {res['window_rows']:,} rows"
    )
    print(table)
    print(
        "noise, cores kept busy by other processes per section: "
        + ", ".join(
            f"{k} {v.get('other_cores', float('nan')):.2f}" for k, v in cpu.sections.items()
        )
    )
    diag = res["fresh"]["diagnosis"]
    print(
        f"fresh load imports {diag['extra_module_count']} modules beyond the baseline "
        f"(packages: {', '.join(diag['extra_top_packages'])}); pandas imported: "
        f"{diag['imports_pandas']}, pyarrow.dataset imported: {diag['imports_pyarrow.dataset']}"
    )
    print(
        "  largest top-level entries of -X importtime for the fresh load (cumulative ms, "
        "baseline imports included): "
        + ", ".join(
            f"{e['module']} {e['cumulative_ms']:.0f}" for e in diag["load_bundle_top_imports"]
        )
    )
    if args.profile:
        print_profile("local miss", res["local_miss_profile"])
        if "s3" in res and "profile" in res["s3"]:
            print_profile("S3 miss (main thread only)", res["s3"]["profile"])

    results = {
        "command": command_line(argv),
        "date_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": facts,
        "git_at_start": git_start,
        "git_at_end": git_state(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "noise": cpu.sections,
        "data": {"path": path.as_posix(), "rows": args.rows, "columns": 20},
        "settings": vars(args),
        "targets": {
            "hit_p50_us_max": TARGET_HIT_US,
            "local_p50_ms_max": TARGET_LOCAL_MS,
            "fresh_ratio_max": TARGET_FRESH_RATIO,
            "s3_p50_ms_max": TARGET_S3_MS,
            "met": met,
        },
        "results": res,
        "table": table,
    }
    out = ROOT / RESULTS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    # Results are shared: paths are written relative to the repository root.
    out.write_text(json.dumps(results, indent=2).replace(f"file://{ROOT}/", "file://./").replace(f"{ROOT}/", "") + "\n")
    shutil.rmtree(store_root, ignore_errors=True)
    print(f"\nwrote {RESULTS_FILE.as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
