"""The ``buckaroo-assets`` command line, run as a real subprocess against real stores.

Every expectation is computed independently of the CLI: row counts, nulls and
extremes from pyarrow, listings from ``BundleStore.list()`` in this process,
stats from ``load_bundle``.  Stores are a local folder and S3 served by moto
over HTTP on 127.0.0.1 (see ``conftest.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba
from buckaroo_assets.bundle import codec
from buckaroo_assets.cli import main
from buckaroo_assets.cli.arguments import parse_duration, parse_options
from buckaroo_assets.store.locate import STORE_ENV
from buckaroo_assets.units import human_size

from .conftest import S3Server

SCRIPT = Path(sys.executable).with_name("buckaroo-assets")
SALES_ROWS = 2_500


# ---------------------------------------------------------------- helpers


Result = subprocess.CompletedProcess[str]


# The CLI's working directory: never the checkout, whose ./.buckaroo/store is the main job's.
OUTSIDE = Path(tempfile.mkdtemp(prefix="buckaroo-cli-"))


def run_many(
    *commands: Sequence[object], env_store: str | None = None, cwd: Path = OUTSIDE
) -> list[Result]:
    """Independent CLI calls, each in a fresh interpreter, one per CPU at a time.

    ``$BUCKAROO_STORE_URL`` is set only when asked for, so no test sees the caller's store.
    """
    env = {k: v for k, v in os.environ.items() if k != STORE_ENV}
    if env_store is not None:
        env[STORE_ENV] = env_store

    def one(command: Sequence[object]) -> Result:
        argv = [sys.executable, "-m", "buckaroo_assets.cli", *map(str, command)]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, cwd=cwd)

    with ThreadPoolExecutor(max_workers=min(len(commands), os.cpu_count() or 1)) as pool:
        return list(pool.map(one, commands))


def run(*args: object, env_store: str | None = None, cwd: Path = OUTSIDE) -> Result:
    return run_many(args, env_store=env_store, cwd=cwd)[0]


def ok(result: Result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def fields(text: str) -> dict[str, str]:
    """``key   value`` lines of a block, e.g. what ``build`` prints."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition("  ")
        out[key.strip()] = value.strip()
    return out


def runtime_error(result: Result) -> str:
    """Exit 1 with exactly one ``error: ...`` line on stderr and no traceback."""
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def usage_error(result: Result) -> str:
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return result.stderr


def listed(store: ba.BundleStore) -> list[dict[str, Any]]:
    """What ``ls --json`` must say, straight from the store."""
    return [
        {
            "dataset": e.dataset, "data_id": e.data_id, "config_id": e.config_id,
            "rows": e.rows, "columns": e.columns, "bytes": e.bytes,
            "created_at": e.created_at.isoformat(), "pinned_by": list(e.pinned_by),
        }
        for e in store.list()
    ]


def by_name(stats_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    stats = codec.decode(stats_json)
    return {entry["orig_col_name"]: entry for entry in stats.values()}


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@dataclass
class Sources:
    sales: Path  # Parquet, 2,500 rows
    sales_v2: Path  # Parquet, another version of the same dataset
    cities: Path  # CSV
    sales_table: pa.Table


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    n = SALES_ROWS
    sales = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "price": pa.array([i * 0.25 if i % 7 else None for i in range(n)], pa.float64()),
        "name": pa.array([None if i % 11 == 0 else f"item-{i % 37}" for i in range(n)]),
        "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i % 90) for i in range(n)]),
    })
    folder = tmp_path / "sources"
    folder.mkdir()
    pq.write_table(sales, folder / "sales.parquet")
    pq.write_table(sales.slice(0, 1_200), folder / "sales_v2.parquet")
    (folder / "cities.csv").write_text(
        "city,population\nOslo,709000\nLima,\nRome,2873000\nOslo,709000\nQuito,2011000\n"
    )
    return Sources(
        folder / "sales.parquet", folder / "sales_v2.parquet", folder / "cities.csv", sales
    )


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


def tamper_pack(store_dir: Path, data_id: str) -> Path:
    (pack,) = (store_dir / "v1" / "bundles" / data_id).glob("*/pack-*.bin")
    data = bytearray(pack.read_bytes())
    for i in (len(data) // 3, len(data) // 2):
        data[i] ^= 0xFF
    pack.write_bytes(bytes(data))
    return pack


# ---------------------------------------------------------------- basics


def test_console_script_version_and_help() -> None:
    assert SCRIPT.exists(), SCRIPT
    done = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"buckaroo-assets {ba.__version__}"
    help_text = ok(run("--help"))
    for command in ("ls", "show", "verify", "gc", "build"):
        assert command in help_text


def test_importing_the_cli_loads_neither_pandas_nor_dagster() -> None:
    code = (
        "import sys, buckaroo_assets.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'dagster'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_duration_options_and_sizes_parse_as_documented() -> None:
    assert parse_duration("30m") == dt.timedelta(minutes=30)
    assert parse_duration("12h") == dt.timedelta(hours=12)
    assert parse_duration("7d") == dt.timedelta(days=7)
    assert parse_duration("2w") == dt.timedelta(weeks=2)
    assert parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration("0s") == dt.timedelta(0)
    assert parse_options([
        (("client_kwargs", "endpoint_url"), "http://127.0.0.1:9"),
        (("client_kwargs", "region_name"), "us-east-1"),
        (("anon",), False),
    ]) == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
        "anon": False,
    }
    assert human_size(512) == "512 B"
    assert human_size(12_595) == "12.3 KiB"
    assert human_size(5 * 1024**3) == "5.0 GiB"


def test_main_returns_exit_codes_in_process(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"buckaroo-assets {ba.__version__}"
    assert main(["show", "a/b", "--store", str(store_dir)]) == 2
    assert main(["show", "nothing-here", "--store", str(store_dir)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: no bundle")
    assert main(["ls", "--store", str(store_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bundles"] == []


# ---------------------------------------------------------------- local store round trip


def test_build_ls_show_verify_round_trip(sources: Sources, store_dir: Path) -> None:
    sales_rows = pq.read_metadata(sources.sales).num_rows
    cities = pacsv.read_csv(sources.cities)
    sales_built, city_built = run_many(
        ["build", sources.sales, "--store", store_dir, "--dataset", "sales"],
        ["build", sources.cities, "--store", store_dir, "--json"],
    )

    built = fields(ok(sales_built))
    sales_id = ba.data_id_for(sources.sales)
    assert built["data_id"] == sales_id
    assert built["config_id"] == ba.StatsConfig().config_id
    assert built["rows"] == f"{sales_rows:,}"
    assert float(built["seconds"].split()[0]) > 0
    manifest = built["manifest"]
    assert manifest.startswith("file://") and Path(manifest.removeprefix("file://")).is_file()

    city = as_json(city_built)
    assert city["data_id"] == ba.data_id_for(sources.cities)
    assert city["rows"] == cities.num_rows and city["columns"] == cities.num_columns
    assert city["dataset"] is None

    ls_json, ls_text, show_json, show_text, verified = run_many(
        ["ls", "--store", store_dir, "--json"],
        ["ls", "--store", store_dir],
        ["show", sales_id, "--store", store_dir, "--json", "--rows", 3],
        ["show", sales_id, "--store", store_dir, "--rows", 2],
        ["verify", "--store", store_dir],
    )

    store = ba.BundleStore(store_dir)
    expected = listed(store)
    assert {e["data_id"] for e in expected} == {sales_id, city["data_id"]}
    bundles = as_json(ls_json)["bundles"]
    assert [{k: b[k] for k in expected[0]} for b in bundles] == expected
    assert sorted(bundles[0]["pinned_by"] + bundles[1]["pinned_by"]) == sorted(
        ["sales", f"sales@{ba.StatsConfig().config_id}"]
    )

    table_text = ok(ls_text)
    (sales_line,) = [line for line in table_text.splitlines() if sales_id in line]
    assert sales_line.startswith("sales ") and f"{sales_rows:,}" in sales_line
    assert city["data_id"] in table_text and "2 bundles" in table_text

    shown = as_json(show_json)
    assert shown["rows"] == sales_rows and shown["window_rows"] == 1000
    assert shown["stats"] == codec.encode(ba.load_bundle(sales_id, store=store).stats)
    stats = by_name(shown["stats"])
    table = sources.sales_table
    for name in table.column_names:
        column = table[name]
        extremes = pc.min_max(column)
        assert stats[name]["null_count"] == column.null_count, name
        assert stats[name]["min"] == extremes["min"].as_py(), name
        assert stats[name]["max"] == extremes["max"].as_py(), name
        assert stats[name]["distinct_count"] == pc.count_distinct(column).as_py(), name
    assert type(stats["day"]["min"]) is dt.date  # lossless, not a string
    assert stats["price"]["mean"] == pytest.approx(pc.mean(table["price"]).as_py())
    window = codec.decode(shown["window"])
    assert window["columns"] == table.column_names
    assert window["rows"] == [list(row.values()) for row in table.slice(0, 3).to_pylist()]

    text = ok(show_text)
    assert f"rows           {sales_rows:,}" in text
    for name in table.column_names:
        assert f"\n{name} " in text
    (price_line,) = [line for line in text.splitlines() if line.startswith("price ")]
    assert f" {table['price'].null_count:,} " in price_line
    assert text.rstrip().splitlines()[-1].split()[:2] == ["1", "0.25"]  # second window row

    assert "checked 2 bundles: 0 damaged" in ok(verified)


def test_show_by_dataset_and_config_id_prefix(sources: Sources, store_dir: Path) -> None:
    # One after the other: the dataset's "latest" pointer must end at the narrow one.
    wide = as_json(run(
        "build", sources.sales, "--store", store_dir, "--dataset", "sales", "--json"
    ))
    narrow = as_json(run(
        "build", sources.sales, "--store", store_dir, "--dataset", "sales", "--window-rows", 10,
        "--json",
    ))
    assert wide["data_id"] == narrow["data_id"] and wide["config_id"] != narrow["config_id"]
    unused = next(
        p for p in ("0000", "ffff", "abcd")
        if not wide["config_id"].startswith(p) and not narrow["config_id"].startswith(p)
    )

    latest, older, by_id, missing, both, neither = run_many(
        ["show", "--dataset", "sales", "--store", store_dir, "--json"],
        ["show", "--dataset", "sales", "--config-id", wide["config_id"][:8], "--store", store_dir,
         "--json"],
        ["show", wide["data_id"], "--config-id", narrow["config_id"], "--store", store_dir,
         "--json"],
        ["show", "--dataset", "sales", "--config-id", unused, "--store", store_dir],
        ["show", wide["data_id"], "--dataset", "sales", "--store", store_dir],
        ["show", "--store", store_dir],
    )
    assert (as_json(latest)["config_id"], as_json(latest)["window_rows"]) == (
        narrow["config_id"], 10
    )
    assert (as_json(older)["config_id"], as_json(older)["window_rows"]) == (
        wide["config_id"], 1000
    )
    assert as_json(by_id)["window_rows"] == 10
    assert unused in runtime_error(missing)
    assert "exactly one" in usage_error(both) and "exactly one" in usage_error(neither)


def test_verify_exits_1_and_names_a_tampered_bundle(sources: Sources, store_dir: Path) -> None:
    sales, cities = (
        as_json(r)["data_id"]
        for r in run_many(
            ["build", sources.sales, "--store", store_dir, "--json"],
            ["build", sources.cities, "--store", store_dir, "--json"],
        )
    )
    assert ba.BundleStore(store_dir).verify().ok

    tamper_pack(store_dir, sales)

    result, as_report, show_damaged = run_many(
        ["verify", "--store", store_dir],
        ["verify", "--store", store_dir, "--json"],
        ["show", sales, "--store", store_dir],
    )
    assert result.returncode == 1, result.stdout + result.stderr
    damaged = [line for line in result.stdout.splitlines() if line.startswith("DAMAGED")]
    assert len(damaged) == 1 and sales in damaged[0]
    assert cities not in result.stdout
    assert "1 damaged" in result.stdout

    assert as_report.returncode == 1
    report = json.loads(as_report.stdout)
    assert report["ok"] is False and report["checked"] == 2
    assert [d["data_id"] for d in report["damaged"]] == [sales]

    message = runtime_error(show_damaged)
    assert sales in message and "checksum" in message
    assert ba.load_bundle(cities, store=ba.BundleStore(store_dir)).data_id == cities


def test_verify_names_a_dataset_pointer_whose_bundle_is_gone(
    sources: Sources, store_dir: Path
) -> None:
    built = as_json(run(
        "build", sources.cities, "--store", store_dir, "--dataset", "towns", "--json"
    ))
    manifest = Path(built["manifest_url"].removeprefix("file://"))
    for path in manifest.parent.iterdir():
        path.unlink()

    result = run("verify", "--store", store_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "datasets/towns/latest.json" in result.stdout
    assert built["data_id"] in result.stdout


def test_gc_dry_run_removes_nothing_and_keep_latest_keeps_the_pointer(
    sources: Sources, store_dir: Path
) -> None:
    old, loose = (
        as_json(r)
        for r in run_many(
            ["build", sources.sales, "--store", store_dir, "--dataset", "sales", "--json"],
            ["build", sources.cities, "--store", store_dir, "--json"],
        )
    )
    new = as_json(run(
        "build", sources.sales_v2, "--store", store_dir, "--dataset", "sales", "--json"
    ))
    before = files_under(store_dir)

    dry = as_json(run("gc", "--keep-latest", 1, "--dry-run", "--json", "--store", store_dir))
    assert dry["dry_run"] is True and dry["kept"] == 2
    assert [e["data_id"] for e in dry["removed"]] == [old["data_id"]]
    assert files_under(store_dir) == before

    done = ok(run("gc", "--keep-latest", 1, "--store", store_dir))
    assert "removed 1 bundle" in done and old["data_id"] in done and "2 kept" in done
    assert new["data_id"] not in done and loose["data_id"] not in done
    store = ba.BundleStore(store_dir)
    remaining = {e.data_id: e for e in store.list()}
    assert set(remaining) == {new["data_id"], loose["data_id"]}
    assert "sales" in remaining[new["data_id"]].pinned_by
    assert ba.load_bundle(dataset="sales", store=store).data_id == new["data_id"]

    # Everything is older than 0s; only the pointer-named bundle survives.
    swept, show_old = run_many(
        ["gc", "--older-than", "0s", "--json", "--store", store_dir],
        ["show", old["data_id"], "--store", store_dir],
    )
    assert [e["data_id"] for e in as_json(swept)["removed"]] == [loose["data_id"]]
    assert [e.data_id for e in store.list()] == [new["data_id"]]
    assert store.verify().ok
    assert "no bundle" in runtime_error(show_old)


# ---------------------------------------------------------------- failures and usage errors


def test_show_unknown_id_exits_1_with_a_clear_message(store_dir: Path) -> None:
    result = run("show", "no-such-id", "--store", store_dir)
    message = runtime_error(result)
    assert "no bundle" in message and "no-such-id" in message
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["show", "../x"],
        ["show", "a/b"],
        ["show", "--dataset", "../x"],
        ["show", "ok-id", "--config-id", "../x"],
        ["build", "{source}", "--data-id", "a/b"],
        ["build", "{source}", "--dataset", "../x"],
    ],
)
def test_unsafe_ids_exit_2_before_any_io(
    args: list[str], sources: Sources, store_dir: Path
) -> None:
    argv = [a.format(source=sources.sales) for a in args]
    stderr = usage_error(run(*argv, "--store", store_dir))
    assert "must" in stderr or "may contain only" in stderr
    assert not store_dir.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["gc", "--older-than", "7x"],
        ["gc", "--older-than", "7"],
        ["gc", "--keep-latest", "1", "--grace", "soon"],
        ["gc", "--keep-latest", "-1"],
        ["gc"],
        ["show", "id", "--rows", "many"],
        ["--storage-option", "no-equals-sign", "ls"],
        ["--storage-option", "a=1", "--storage-option", "a.b=2", "ls"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_arguments_exit_2(args: list[str], store_dir: Path) -> None:
    usage_error(run(*args, env_store=str(store_dir)))


def test_one_store_rule_flag_then_env_then_project_then_default(
    tmp_path: Path, store_dir: Path, sources: Sources
) -> None:
    """--store, else $BUCKAROO_STORE_URL, else the project configuration, else ./.buckaroo/store."""
    project = tmp_path / "project"
    (project / "deep" / "er").mkdir(parents=True)
    default = (project / "deep" / "er" / ".buckaroo" / "store").as_uri()
    listing = ok(run("ls", cwd=project / "deep" / "er"))
    assert listing.strip() == f"no bundles in {default}"
    (project / "pyproject.toml").write_text(
        '[tool.buckaroo-assets]\nstore = "bundles"\n[tool.buckaroo-assets.stats]\nwindow_rows = 7\n'
    )
    built = as_json(run("build", sources.sales, "--dataset", "sales", "--json", cwd=project / "deep"))
    assert built["hit"] is False and built["manifest_url"].startswith((project / "bundles").as_uri())
    assert ba.load_bundle(dataset="sales", store=project / "bundles").first_window.num_rows == 7
    again = as_json(run("build", sources.sales, "--dataset", "sales", "--json", cwd=project))
    assert again["hit"] is True and again["config_id"] == built["config_id"]  # same project config
    assert as_json(run("ls", "--json", cwd=project))["bundles"][0]["dataset"] == "sales"
    # $BUCKAROO_STORE_URL beats the project, --store beats both.
    assert as_json(run("ls", "--json", cwd=project, env_store=str(store_dir)))["bundles"] == []
    other = tmp_path / "other"
    assert as_json(run("ls", "--json", "--store", other, cwd=project))["store"] == other.as_uri()


def test_missing_or_unreadable_source_exits_1(tmp_path: Path, store_dir: Path) -> None:
    missing = tmp_path / "missing.csv"
    message = runtime_error(run("build", missing, "--store", store_dir))
    assert "missing.csv" in message and "no such file" in message.lower()

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet at all")
    runtime_error(run("build", broken, "--store", store_dir))
    assert ba.BundleStore(store_dir).list() == []


# ---------------------------------------------------------------- S3


SECRET = "s3cr3t-never-printed-7f1c"


def s3_flags(server: S3Server) -> list[str]:
    return [
        "--storage-option", "key=AKIDNEVERPRINTED",
        "--storage-option", f"secret={SECRET}",
        "--storage-option", f"client_kwargs.endpoint_url={server.endpoint}",
        "--storage-option", "client_kwargs.region_name=us-east-1",
    ]


def test_s3_round_trip(sources: Sources, s3_server: S3Server, s3_store_url: str) -> None:
    flags = ["--store", s3_store_url, *s3_flags(s3_server)]
    options = {**s3_server.storage_options, "key": "AKIDNEVERPRINTED", "secret": SECRET}

    # A source on S3 too, read with --source-option flags.
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **s3_server.storage_options)
    remote = f"{s3_store_url.removeprefix('s3://').split('/')[0]}/incoming/cities.csv"
    fs.put_file(str(sources.cities), remote)
    source_flags = [f.replace("--storage-option", "--source-option") for f in s3_flags(s3_server)]

    builds = run_many(
        ["build", sources.sales, *flags, "--dataset", "sales", "--json"],
        ["build", f"s3://{remote}", *flags, *source_flags, "--json"],
    )
    sales, cities = (as_json(r) for r in builds)
    assert sales["rows"] == pq.read_metadata(sources.sales).num_rows
    assert sales["manifest_url"].startswith(s3_store_url + "/")
    assert cities["rows"] == pacsv.read_csv(sources.cities).num_rows
    assert cities["data_id"].startswith("s3etag-")

    reads = run_many(
        [*flags, "ls", "--json"],  # options before the subcommand work as well as after it
        ["show", "--dataset", "sales", *flags, "--json"],
        ["verify", *flags],
        ["gc", "--older-than", "0s", "--dry-run", "--json", *flags],
        ["show", "unknown-id", *flags],
    )
    ls_json, show_json, verified, dry_gc, unknown = reads

    store = ba.BundleStore(s3_store_url, storage_options=options)
    expected = listed(store)
    bundles = as_json(ls_json)["bundles"]
    assert [{k: b[k] for k in expected[0]} for b in bundles] == expected
    assert {b["data_id"] for b in bundles} == {sales["data_id"], cities["data_id"]}

    shown = as_json(show_json)
    assert shown["data_id"] == sales["data_id"]
    assert shown["stats"] == codec.encode(ba.load_bundle(sales["data_id"], store=store).stats)
    assert by_name(shown["stats"])["price"]["null_count"] == sources.sales_table["price"].null_count

    assert "checked 2 bundles: 0 damaged" in ok(verified)
    assert [e["data_id"] for e in as_json(dry_gc)["removed"]] == [cities["data_id"]]
    assert len(store.list()) == 2

    message = runtime_error(unknown)
    assert "unknown-id" in message and s3_store_url in message

    for result in [*builds, *reads]:
        assert SECRET not in result.stdout + result.stderr
        assert "AKIDNEVERPRINTED" not in result.stdout + result.stderr


# ---------------------------------------------------------------- html


def test_html_writes_a_viewer_page_of_the_stored_bundle(
    sources: Sources, store_dir: Path, tmp_path: Path
) -> None:
    built = as_json(run("build", sources.sales, "--store", store_dir, "--dataset", "sales", "--json"))
    page = tmp_path / "sales.html"
    by_dataset, by_id, missing, both = run_many(
        ["html", "--dataset", "sales", "--store", store_dir, "-o", page, "--json"],
        ["html", built["data_id"], "--store", store_dir, "-o", tmp_path / "b.html", "--embed", "Buckaroo"],
        ["html", "--dataset", "nope", "--store", store_dir, "-o", tmp_path / "c.html"],
        ["html", built["data_id"], "--dataset", "sales", "--store", store_dir],
    )
    assert as_json(by_dataset) == {
        "data_id": built["data_id"], "config_id": built["config_id"], "path": str(page)
    }
    text = page.read_text()
    artifact = json.loads(text.split('type="application/json">', 1)[1].split("</script>", 1)[0])
    bundle = ba.load_bundle(dataset="sales", store=str(store_dir))
    headers = [c["header_name"] for c in artifact["df_viewer_config"]["column_config"]]
    assert headers == [str(label) for _, label in bundle.columns]
    assert "<title>sales</title>" in text and '<script type="module">' in text
    assert ok(by_id).startswith(f"wrote {tmp_path / 'b.html'}")
    assert '"embed_type":"Buckaroo"' in (tmp_path / "b.html").read_text()
    assert "nope" in runtime_error(missing) and not (tmp_path / "c.html").exists()
    assert "exactly one" in usage_error(both)
