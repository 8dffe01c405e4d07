"""The read-only viewer server, over real HTTP on loopback."""

import concurrent.futures
import io
import json
import logging
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

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


def connect(server: BundleServer) -> socket.socket:
    parts = urlsplit(server.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashes or gives up does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


SERVER_LOG = "buckaroo_assets.viewer.server"
ACCESS_LINE = re.compile(r'127\.0\.0\.1 "(\S+) (\S+)" (\d{3}) (\d+) ([\d.]+)ms( \(client went away\))?')


def access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[re.Match[str]]:
    """The access-log lines, once there are ``count`` (each is logged just after its reply)."""

    def found() -> list[re.Match[str]]:
        return [
            m for r in caplog.records
            if r.name == SERVER_LOG and (m := ACCESS_LINE.fullmatch(r.getMessage()))
        ]

    deadline = time.monotonic() + 10
    while len(found()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # and no more follow
    return found()


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
        "start=%",  # percent-encoding that is cut short, not hex, or not UTF-8
        "start=%zz",
        "start=%ff",
        "start=%C2",
        "end=%%31",
        "&".join(f"p{i}=1" for i in range(1_000)),
        "&".join(f"p{i}=1" for i in range(5_000)),  # past the request-line limit
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
        "/bundles/%ff%fe/0123456789abcdef0123456789abcdef",
        "/bundles/%zz/0123456789abcdef0123456789abcdef",
        "/datasets/%",
    ],
)
def test_nothing_outside_the_store_is_reachable(server: BundleServer, path: str) -> None:
    status, body, _ = get(server.url + path)
    assert status in (400, 404), (path, status)
    assert b"TOP-SECRET" not in body


@pytest.mark.parametrize("query", ["embed=%ZZ", "embed=%", "embed=%FF", "embed=" + "x" * 5_000])
def test_malformed_page_queries_are_400(server: BundleServer, store: ba.BundleStore, query: str) -> None:
    data_id, config_id = store.resolve(dataset="alpha")
    status, body, _ = get(f"{server.url}/bundles/{data_id}/{config_id}?{query}")
    assert status == 400, body


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


# `buckaroo-assets serve` with Ctrl-C (SIGINT) handled even when this test runs in a background
# job of a non-interactive shell, whose children inherit SIGINT ignored.
SERVE_WITH_CTRL_C = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "sys.argv[0] = 'buckaroo-assets'\n"
    "runpy.run_module('buckaroo_assets.cli', run_name='__main__')\n"
)


def test_serve_command_in_its_own_process_keeps_memory_bounded(
    store: ba.BundleStore, tmp_path: Path
) -> None:
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errors:  # a pipe nobody reads would fill up and stall the server
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE_WITH_CTRL_C, "--store", store.url, "serve", "--port", "0", "--workers", "4"],
            stdout=subprocess.PIPE,
            stderr=errors,
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
        process.stdout.close()  # type: ignore[union-attr]
    assert process.returncode == 0
    logged = stderr.read_text()
    assert "Traceback" not in logged
    # the terminal shows one access-log line per request: the warm-up and the 600
    assert len(re.findall(r' "GET /bundles/\S+" 200 \d+ [\d.]+ms$', logged, re.MULTILINE)) == 601


def test_idle_and_half_sent_connections_do_not_hold_up_others(store: ba.BundleStore) -> None:
    timeout = 1.5
    with BundleServer(store, workers=2, header_timeout=timeout) as server:
        idle = []
        for i in range(50):
            sock = connect(server)
            if i % 3 == 1:
                sock.sendall(b"GET /index.json HTTP/1.1\r\nHost: loc")  # headers cut short
            elif i % 3 == 2:
                sock.sendall(b"GET /bundles/al")  # request line cut short
            idle.append(sock)
        opened = time.monotonic()
        answered = get(server.url + "/index.json")
        took = time.monotonic() - opened
        assert answered[0] == 200 and took < 1.0, took
        for sock in idle:  # all still open while the request was answered
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
            sock.settimeout(timeout + 5)

        kept_alive = connect(server)  # idle after a response: the keep-alive timeout
        kept_alive.sendall(b"GET /favicon.ico HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert kept_alive.recv(1024).startswith(b"HTTP/1.1 204")
        answered_at = time.monotonic()

        assert all(closed_by_server(sock) for sock in idle)
        closed_after = time.monotonic() - opened
        assert timeout * 0.9 < closed_after < timeout + 3, closed_after
        assert closed_by_server(kept_alive)
        assert timeout * 0.9 < time.monotonic() - answered_at < timeout + 3
        for sock in [*idle, kept_alive]:
            sock.close()


def test_connections_past_the_cap_are_answered_503(store: ba.BundleStore) -> None:
    with BundleServer(store, max_connections=3) as server:
        held = [connect(server) for _ in range(3)]
        for sock in held:  # each answered once, so each is accepted and kept open
            sock.sendall(b"GET /favicon.ico HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 204")
        extra = connect(server)
        assert extra.recv(1024).startswith(b"HTTP/1.1 503")
        assert closed_by_server(extra)
        extra.close()
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 5
        while get(server.url + "/favicon.ico")[0] != 204:  # the slots come back
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_one_access_log_line_per_request(
    server: BundleServer, store: ba.BundleStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SERVER_LOG)
    data_id, config_id = store.resolve(dataset="alpha")
    base = f"/bundles/{data_id}/{config_id}"
    requests = [
        ("GET", "/index.json", 200),
        ("HEAD", "/", 200),
        ("GET", base + "/stats.json", 200),
        ("GET", base + "/window.parquet?start=5&end=9", 200),
        ("GET", "/datasets/alpha", 302),
        ("GET", "/nowhere", 404),
        ("GET", base + "/window.parquet?start=x", 400),
        ("DELETE", "/", 405),
    ]
    for method, path, status in requests:
        assert get(server.url + path, method)[0] == status
    lines = access_lines(caplog, len(requests))
    assert sorted((m[1], m[2], int(m[3])) for m in lines) == sorted(requests)
    assert all(int(m[4]) > 0 and float(m[5]) >= 0 and not m[6] for m in lines)


def test_a_client_going_away_is_one_line_and_no_traceback(
    server: BundleServer, store: ba.BundleStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SERVER_LOG)
    # Rows of 16 kB random text: a window far larger than the sockets' buffers.
    rng = np.random.default_rng(3)
    wide = pd.DataFrame({"text": [rng.bytes(8_000).hex() for _ in range(1_000)]})
    big = store.put(ba.build_bundle(wide), dataset="big")
    alpha = store.resolve(dataset="alpha")

    before = connect(server)  # gone before its page is rendered
    before.sendall(f"GET /bundles/{alpha[0]}/{alpha[1]}?embed=Buckaroo HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    reset(before)

    during = socket.socket()  # gone after the first bytes of a large reply
    during.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    during.settimeout(10)
    during.connect((urlsplit(server.url).hostname, urlsplit(server.url).port))
    during.sendall(f"GET /bundles/{big.data_id}/{big.config_id}/window.parquet HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert during.recv(12) == b"HTTP/1.1 200"
    reset(during)

    lines = access_lines(caplog, 2)
    assert sorted(m[2].rsplit("/", 1)[-1] for m in lines) == [f"{alpha[1]}?embed=Buckaroo", "window.parquet"]
    assert all(m[6] for m in lines)  # both say the client went away
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING] == []
    assert "Traceback" not in caplog.text
    assert get(server.url + "/favicon.ico")[0] == 204  # and the server goes on


def test_the_index_marks_the_latest_version_of_each_dataset(store: ba.BundleStore) -> None:
    first = store.put(ba.build_bundle(frame(3)), dataset="gamma")
    second = store.put(ba.build_bundle(frame(4)), dataset="gamma")

    def marks() -> tuple[dict[str, bool], dict[str, bool]]:
        """Per data_id: marked latest in index.json, and in the HTML page."""
        with BundleServer(store) as server:
            listed = json.loads(get(server.url + "/index.json")[1])
            page = get(server.url + "/")[1].decode()
        rows = page.split("<tr>")
        in_html = {
            e["data_id"]: 'class="latest"' in next(r for r in rows if f">{e['data_id']}</a>" in r)
            for e in listed
        }
        return {e["data_id"]: e["latest"] for e in listed}, in_html

    in_json, in_html = marks()
    assert in_json == in_html
    assert in_json[second.data_id] and not in_json[first.data_id]
    assert sum(in_json.values()) == 3  # alpha, beta and gamma each have one

    # Latest is what the dataset's pointer names, not the newest bundle.
    store.point(first.data_id, first.config_id, dataset="gamma")
    assert store.resolve(dataset="gamma") == (first.data_id, first.config_id)
    in_json, in_html = marks()
    assert in_json == in_html
    assert in_json[first.data_id] and not in_json[second.data_id]


def test_the_changes_between_two_versions_as_a_page_and_as_json(store: ba.BundleStore) -> None:
    first = store.put(ba.build_bundle(frame(1, rows=30)), dataset="delta")
    second = store.put(ba.build_bundle(frame(2, rows=24)), dataset="delta")
    expected = ba.diff(first.data_id, second.data_id, store=store)
    with BundleServer(store) as server:
        index = get(server.url + "/")[1].decode()
        link = f'<a href="/diff/{first.data_id}/{second.data_id}">changes</a>'
        assert index.count(link) == 1  # on the latest version's row only
        status, body, headers = get(f"{server.url}/diff/{first.data_id}/{second.data_id}")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert body.decode() == expected.to_html()
        status, body, _ = get(f"{server.url}/diff/{first.data_id}/{second.data_id}/diff.json")
        assert status == 200 and json.loads(body) == json.loads(json.dumps(expected.to_json()))
        assert json.loads(body)["rows"]["delta"] == -6
        assert get(f"{server.url}/diff/{first.data_id}/nothing-here")[0] == 404
        assert get(f"{server.url}/diff/{first.data_id}/..%2Fx")[0] == 400
        assert get(f"{server.url}/diff/{first.data_id}/{second.data_id}/other")[0] == 404
