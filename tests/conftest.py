"""Shared fixtures: real stores only (a local folder, and S3 over HTTP on loopback)."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import buckaroo_assets as ba


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    """A moto S3 endpoint on 127.0.0.1, reached through s3fs like any real S3."""

    endpoint: str

    @property
    def storage_options(self) -> dict[str, Any]:
        return {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
        }

    def new_bucket(self) -> str:
        import boto3

        name = f"bucket-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_store_url(s3_server: S3Server) -> str:
    """A fresh, empty bucket (with a prefix) for one test."""
    return f"s3://{s3_server.new_bucket()}/bundles"


@pytest.fixture(autouse=True)
def _fresh_reader_cache() -> Iterator[None]:
    """Each test starts with an empty in-process bundle cache."""
    ba.clear_cache()
    yield
    ba.clear_cache()


def bytes_read() -> int:
    """Bytes this process has read through read(2) so far (Linux /proc accounting)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.fixture
def instance() -> Iterator[Any]:
    """A real SQLite-backed Dagster instance; on tmpfs where there is one (its commits fsync)."""
    import dagster as dg

    shm = Path("/dev/shm")
    parent = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with (
        tempfile.TemporaryDirectory(dir=parent) as home,
        dg.instance_for_test(temp_dir=home) as inst,
    ):
        yield inst


def dagster_materialize(location: Path, folder: Path) -> Path:
    """``dagster asset materialize --select '*'`` of a code location file, in its own process and
    a fresh ``DAGSTER_HOME`` under ``folder`` (returned), as a user would run it."""
    import subprocess
    import sys

    home = folder / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUCKAROO_"))}
    env["DAGSTER_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(location),
         "--select", "*"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return home


def sigkill_at_line(args: list[str], line: str, cwd: Path, *, patience: float = 60) -> None:
    """Runs ``python args``, SIGKILLs it once it prints ``line``: a crash at a chosen point."""
    child = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stderr is not None
        ready, _, _ = select.select([child.stdout], [], [], patience)
        assert ready, f"the child never printed {line!r}"
        assert child.stdout.readline() == f"{line}\n", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
