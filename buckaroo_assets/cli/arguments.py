"""Argument types and shared options of the command line; bad values exit 2 with a reason."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
from collections.abc import Iterable
from typing import Any

from ..bundle.ids import validate_data_id
from ..errors import UnsafeDataIdError
from ..store.locate import STORE_ENV

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhdw])")
_MAX_DURATION = _dt.timedelta(days=365 * 1000)  # "now - duration" must stay a valid datetime
_CONFIG_PREFIX = re.compile(r"[0-9a-f]{4,32}", re.ASCII)
_SECRET_KEY = re.compile(r"key|secret|token|passw|credential|session|sas|signature|auth", re.I)


class UsageError(Exception):
    """A command-line mistake found after parsing; exits 2 like argparse's own errors."""


def parse_duration(text: str) -> _dt.timedelta:
    """``30m``, ``12h``, ``7d``, ``2w``, ``1h30m``, ``1.5d``: units s, m, h, d, w are required."""
    compact = re.sub(r"\s+", "", text).lower()
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use a number and a unit s, m, h, d or w "
            "(e.g. 30m, 12h, 7d, 2w)"
        )
    try:
        delta = _dt.timedelta(seconds=sum(float(n) * _DURATION_UNITS[u] for n, u in parts))
    except OverflowError:
        delta = _MAX_DURATION + _dt.timedelta(days=1)
    if delta > _MAX_DURATION:
        raise argparse.ArgumentTypeError(f"duration {text!r} is longer than 1000 years")
    return delta


def whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def positive_number(text: str) -> int:
    value = whole_number(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a whole number >= 1, got 0")
    return value


def data_id_arg(text: str) -> str:
    try:
        return validate_data_id(text)
    except UnsafeDataIdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def dataset_arg(text: str) -> str:
    try:
        return validate_data_id(text, what="dataset name")
    except UnsafeDataIdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_id_arg(text: str) -> str:
    if not _CONFIG_PREFIX.fullmatch(text):
        shown = repr(text)[:60]
        raise argparse.ArgumentTypeError(
            f"config_id must be 32 lowercase hex characters (or a unique prefix of at least 4), "
            f"got {shown}"
        )
    return text


def option_pair(text: str) -> tuple[tuple[str, ...], Any]:
    """One ``KEY=VALUE``; the value is never echoed back, it may be a secret."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    path = tuple(key.split("."))
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE (the value is not shown)")
    if not all(path):
        raise argparse.ArgumentTypeError(f"option key {key!r} has an empty dotted part")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return path, value


def parse_options(pairs: Iterable[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """Nest parsed ``KEY=VALUE`` pairs: ``client_kwargs.endpoint_url=...`` becomes a sub-dict."""
    out: dict[str, Any] = {}
    for path, value in pairs:
        node = out
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                taken = ".".join(path[: depth + 1])
                raise UsageError(f"option {taken!r} is given both a value and sub-keys")
            node = child
        node[path[-1]] = value
    return out


def secret_values(options: dict[str, Any], under_secret: bool = False) -> set[str]:
    """String values of secret-looking keys, to blank out of anything printed."""
    found: set[str] = set()
    for key, value in options.items():
        secret = under_secret or bool(_SECRET_KEY.search(str(key)))
        if isinstance(value, dict):
            found |= secret_values(value, secret)
        elif secret and isinstance(value, str) and len(value) >= 3:
            found.add(value)
    return found


def store_arguments(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--store`` / ``--storage-option``, accepted before or after the subcommand."""
    prefix = "global_" if top else ""
    group = parser.add_argument_group("store")
    group.add_argument(
        "--store", dest=f"{prefix}store", metavar="URL",
        help=f"store root: any fsspec URL or local path (default: ${STORE_ENV}, else the "
             "project configuration's store, else ./.buckaroo/store)",
    )
    group.add_argument(
        "--storage-option", dest=f"{prefix}storage_options", metavar="KEY=VALUE",
        action="append", type=option_pair, default=[],
        help="fsspec option for the store, repeatable; VALUE is parsed as JSON when it can be, "
             "dotted keys nest (client_kwargs.endpoint_url=http://...); never printed",
    )


def bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """DATA_ID or --dataset, and --config-id: which bundle ``requested_bundle`` loads."""
    parser.add_argument("data_id", nargs="?", type=data_id_arg, metavar="DATA_ID")
    parser.add_argument("--dataset", type=dataset_arg, metavar="NAME",
                        help="the latest bundle of this dataset instead of a DATA_ID")
    parser.add_argument("--config-id", type=config_id_arg, metavar="ID",
                        help="the bundle built with this config (a unique prefix will do); "
                             "default: the one published last")


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
