"""What every subcommand shares: parsed arguments, the store, redaction and exit codes."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import BundleNotFound
from .arguments import UsageError, parse_options, secret_values

if TYPE_CHECKING:
    from ..bundle.model import Bundle
    from ..store.bundle_store import BundleStore

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")


class Context:
    """What every subcommand needs: the parsed args and what may not be printed."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.storage_options = parse_options(
            [*getattr(args, "global_storage_options", []), *getattr(args, "storage_options", [])]
        )
        self.source_options = parse_options(getattr(args, "source_options", []))
        self.secrets = secret_values(self.storage_options) | secret_values(self.source_options)

    def redact(self, text: str) -> str:
        text = _URL_USERINFO.sub(r"\1***@", text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def store(self) -> BundleStore:
        """The store on the command line, else the one rule's choice (see ``choose_store``)."""
        url = getattr(self.args, "store", None) or self.args.global_store
        from ..store.locate import open_store

        try:
            return open_store(url, self.storage_options or None)
        except ValueError as exc:  # unknown protocol, malformed URL
            raise UsageError(f"cannot open store {url!r}: {exc}") from None
        except TypeError as exc:  # a storage option the filesystem does not take
            raise UsageError(f"cannot open store {url!r} with these options: {exc}") from None


Command = Callable[[Context], int]
AddCommand = Callable[[str, Command, str], argparse.ArgumentParser]


def full_config_id(ctx: Context, store: BundleStore) -> str | None:
    """A config_id prefix (as ``ls`` shows it) widened to the one stored id it names."""
    args = ctx.args
    prefix = args.config_id
    if prefix is None or len(prefix) == 32:
        return prefix
    if args.data_id is not None:
        what, mine = f"data_id {args.data_id!r}", lambda e: e.data_id == args.data_id
    else:
        what, mine = f"dataset {args.dataset!r}", lambda e: e.dataset == args.dataset
    found = sorted(
        {e.config_id for e in store.list() if mine(e) and e.config_id.startswith(prefix)}
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise BundleNotFound(f"no bundle of {what} has a config_id starting with {prefix!r}")
    raise UsageError(f"config_id prefix {prefix!r} is ambiguous: {', '.join(found)}")


def requested_bundle(ctx: Context) -> tuple[BundleStore, Bundle]:
    """The bundle named by DATA_ID or --dataset (and --config-id), read like an app would."""
    args = ctx.args
    if (args.data_id is None) == (args.dataset is None):
        raise UsageError("give either DATA_ID or --dataset NAME (exactly one)")
    store = ctx.store()
    config_id = full_config_id(ctx, store)
    from ..reader.load import load_bundle

    return store, load_bundle(args.data_id, dataset=args.dataset, store=store, config=config_id)
