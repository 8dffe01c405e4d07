"""The read-only viewer server, over real HTTP on loopback."""

import concurrent.futures
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import buckaroo_assets as ba
from buckaroo_assets.viewer.artifact import json_safe
from buckaroo_assets.viewer.server import BundleServer


def get(url: str, method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, method=method)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def frame(seed: int, rows: int = 2_500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "n": rng.integers(0, 100, rows),
            "s": rng.choice(["a", "b", "c"], rows),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> ba.BundleStore:
    store = ba.BundleStore((tmp_path / "store").as_uri())
    store.put(ba.build_bundle(frame(1)), dataset="alpha")
    store.put(ba.build_bundle(frame(2, rows=300)), dataset="beta")
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    return store


@pytest.fixture
def server(store: ba.BundleStore):  # type: ignore[no-untyped-def]
    with BundleServer(store, workers=4) as running:
        yield running


def test_index_lists_every_bundle_with_links(server: BundleServer, store: ba.BundleStore) -> None:
    status, body, headers = get(server.url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    text = body.decode()
    for entry in store.list():
        assert f"/bundles/{entry.data_id}/{entry.config_id}" in text
        assert f"{entry.rows:,}" in text
    assert ">alpha<" in text and ">beta<" in text
    status, body, _ = get(server.url + "/index.json")
    listed = {e["dataset"]: e for e in json.loads(body)}
    assert listed["alpha"]["rows"] == 2_500 and listed["beta"]["columns"] == 3


def test_pages_stats_and_window(server: BundleServer, store: ba.BundleStore) -> None:
    data_id, config_id = store.resolve(dataset="alpha")
    status, _, headers = get(f"{server.url}/datasets/alpha")
    assert status == 302 and headers["Location"] == f"/bundles/{data_id}/{config_id}"
    base = f"{server.url}/bundles/{data_id}/{config_id}"
    for embed in ("DFViewer", "Buckaroo"):
        status, body, _ = get(f"{base}?embed={embed}")
        assert status == 200
        page = body.decode()
        data = page.split('type="application/json">', 1)[1].split("</script>", 1)[0]
        assert json.loads(data)["embed_type"] == embed
        assert 'src="/static/static-embed.js"' in page
    status, js, headers = get(server.url + "/static/static-embed.js")
    assert status == 200 and len(js) > 100_000 and "javascript" in headers["Content-Type"]

    bundle = store.get(data_id, config_id)
    status, body, _ = get(base + "/stats.json")
    stats = json.loads(body)
    assert stats["rows"] == 2_500 and stats["stats"] == json.loads(json.dumps(json_safe(bundle.stats)))

    status, body, _ = get(base + "/window.parquet?start=10&end=20")
    assert status == 200
    served, expected = pq.read_table(io.BytesIO(body)), bundle.window(10, 20)
    assert served.num_rows == 10 and served.to_pydict() == expected.to_pydict()
    status, _, _ = get(base + "/window.parquet?start=-1")
    assert status == 400


@pytest.mark.parametrize(
    "query",
    [
        "start=%C2%B2",  # "²": a digit to str.isdigit, not a number
        "start=%D9%A3",  # an Arabic-Indic three
        "start=" + "9" * 5_000,  # more digits than int() takes
        "end=" + "1" * 19,
        "&".join(f"p{i}=1" for i in range(40)),  # more parameters than the server parses
        "start=1e3",
        "start=%00",
    ],
)
def test_malformed_queries_are_400_not_500(
    server: BundleServer, store: ba.BundleStore, query: str
) -> None:
    data_id, config_id = store.resolve(dataset="alpha")
    status, body, _ = get(f"{server.url}/bundles/{data_id}/{config_id}/window.parquet?{query}")
    assert status == 400, body


@pytest.mark.parametrize(
    "path",
    [
        "/bundles/../secret.txt",
        "/bundles/..%2F..%2Fsecret.txt/x",
        "/bundles/%2e%2e/%2e%2e",
        "/bundles/file-x%00/0123456789abcdef0123456789abcdef",
        "/bundles/a%2Fb/0123456789abcdef0123456789abcdef",
        "/bundles/ok/../../../secret.txt",
        "/static/../../secret.txt",
        "/static/%2e%2e%2fsecret.txt",
        "/datasets/..",
        "/datasets/%2e%2e%2fsecret",
        "//etc/passwd",
        "/secret.txt",
        "/bundles/" + "x" * 300 + "/0123456789abcdef0123456789abcdef",
    ],
)
def test_nothing_outside_the_store_is_reachable(server: BundleServer, path: str) -> None:
    status, body, _ = get(server.url + path)
    assert status in (400, 404), (path, status)
    assert b"TOP-SECRET" not in body


def test_unknown_ids_are_404_and_writes_are_refused(server: BundleServer, store: ba.BundleStore) -> None:
    data_id, config_id = store.resolve(dataset="alpha")
    assert get(f"{server.url}/bundles/file-{'0' * 32}/{config_id}")[0] == 404
    assert get(f"{server.url}/bundles/{data_id}/{'0' * 32}")[0] == 404
    assert get(f"{server.url}/datasets/nope")[0] == 404
    assert get(f"{server.url}/bundles/{data_id}/{config_id}/other")[0] == 404
    assert get(f"{server.url}/bundles/{data_id}/{config_id}?embed=Excel")[0] == 400
    for method in ("POST", "PUT", "DELETE"):
        status, _, headers = get(server.url + "/", method=method)
        assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, body, headers = get(server.url + "/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_a_damaged_bundle_is_never_served(server: BundleServer, store: ba.BundleStore) -> None:
    data_id, config_id = store.resolve(dataset="beta")
    folder = Path(store.root) / "v1" / "bundles" / data_id / config_id
    (pack,) = folder.glob("pack-*.bin")
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    pack.write_bytes(bytes(raw))
    ba.clear_cache()
    status, body, _ = get(f"{server.url}/bundles/{data_id}/{config_id}/stats.json")
    assert status == 502 and b"failed verification" in body


def test_many_parallel_requests_with_bounded_workers(server: BundleServer, store: ba.BundleStore) -> None:
    urls = []
    for entry in store.list():
        base = f"{server.url}/bundles/{entry.data_id}/{entry.config_id}"
        urls += [base, base + "?embed=Buckaroo", base + "/stats.json", base + "/window.parquet", server.url + "/"]
    before = threading.active_count()
    peak = before
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, threading.active_count())
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda u: get(u)[0], urls * 40))
    stop.set()
    watcher.join()
    assert statuses.count(200) == len(urls) * 40
    # 32 clients + the watcher, and at most 4 request threads in the server
    assert peak - before <= 32 + 1 + 4


def test_serve_command_in_its_own_process_keeps_memory_bounded(store: ba.BundleStore) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "buckaroo_assets.cli", "--store", store.url, "serve", "--port", "0", "--workers", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group()  # type: ignore[union-attr]
        entry = store.list()[0]
        page = f"{url}/bundles/{entry.data_id}/{entry.config_id}"

        def rss_peak_kib() -> int:
            status = Path(f"/proc/{process.pid}/status").read_text()
            return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]

        assert get(page)[0] == 200
        warm = rss_peak_kib()
        with concurrent.futures.ThreadPoolExecutor(48) as pool:
            statuses = list(pool.map(lambda u: get(u)[0], [page, page + "/stats.json", page + "?embed=Buckaroo"] * 200))
        assert statuses.count(200) == 600
        assert rss_peak_kib() - warm < 200 * 1024, (warm, rss_peak_kib())
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=20)
    assert process.returncode == 0
