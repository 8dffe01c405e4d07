"""The ``buckaroo-assets`` entry point: list, inspect, verify, garbage-collect and build bundles from a shell.

An operator's tool over one store (``--store URL`` or ``$BUCKAROO_STORE_URL``).
Tables are for people, ``--json`` is for scripts.  Exit codes are a contract
that scripts and cron jobs rely on:

* 0 — success;
* 1 — something failed at runtime (a bundle is missing, damaged or does not
  fit, ``verify`` found damage, a source cannot be read), reported as one
  ``error: ...`` line on stderr, never a traceback (unless ``--traceback``);
* 2 — the command line is wrong (argparse's own code), including unsafe ids,
  bad durations and a missing store.

Storage options may hold credentials: they are never printed, and values of
secret-looking keys are blanked out of error messages.  pyarrow, fsspec and
the stats engine are imported only by the subcommand that needs them, so
``--help`` is instant; pandas and dagster are never imported.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import BuckarooAssetsError
from ..version import __version__
from . import building, diffing, listing, maintenance, viewing
from .arguments import UsageError, store_arguments
from .context import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Command, Context

__all__ = ["build_parser", "main"]

PROG = "buckaroo-assets"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every subcommand and its arguments."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, verify, garbage-collect, build, view and serve buckaroo-assets bundles.",
        epilog="exit codes: 0 success, 1 runtime failure (missing/damaged bundle, "
               "unreadable source), 2 usage error",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of a runtime error"
    )
    store_arguments(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        store_arguments(sub, top=False)
        sub.set_defaults(run=run, command_parser=sub)
        return sub

    for group in (listing, maintenance, building, viewing, diffing):
        group.register(add)
    return parser


def _describe(exc: BaseException) -> str:
    """One line for stderr: our own messages as they are, others prefixed with their type."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {os.fsdecode(exc.filename)}"
    elif isinstance(exc, BuckarooAssetsError | OSError):
        text = str(exc) or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_USAGE


def _quiet_stdout() -> None:
    """After the reader of our stdout went away (``| head``), drop the rest of the output."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _usage_error(args: argparse.Namespace, message: str) -> int:
    """Report like argparse does (usage line, then ``prog cmd: error: ...``) and exit 2."""
    command_parser: argparse.ArgumentParser = args.command_parser
    command_parser.print_usage(sys.stderr)
    print(f"{command_parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(argv: Sequence[str] | None) -> int:
    """Parse, dispatch, and turn every failure into its exit code and one stderr line."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")  # odd column names must not crash a listing
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or argparse's usage error (already printed)
        return _exit_code(stop.code)
    try:
        ctx = Context(args)
    except UsageError as exc:  # conflicting --storage-option keys
        return _usage_error(args, str(exc))
    try:
        return args.run(ctx)
    except UsageError as exc:
        return _usage_error(args, ctx.redact(str(exc)))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_FAILED
    except Exception as exc:
        if args.traceback:
            raise
        print(f"error: {ctx.redact(_describe(exc))}", file=sys.stderr)
        return EXIT_FAILED


def _exit_now(code: int) -> NoReturn:
    """Flush what we printed, then end the process without interpreter teardown."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (0 ok, 1 runtime failure, 2 usage error).

    With ``argv=None`` (the console script, ``python -m buckaroo_assets.cli``)
    this process *is* the command: output is flushed and the process ends at
    once with that code.  pyarrow's native thread pools now and then abort
    interpreter teardown (SIGABRT, "terminate called without an active
    exception", apache/arrow#34314; about 1 run in 150 here), and a cron job
    must see the code we chose, not 134.  Pass ``argv`` to get a plain return.
    """
    code = _run(argv)
    if argv is None:
        _exit_now(code)
    return code

