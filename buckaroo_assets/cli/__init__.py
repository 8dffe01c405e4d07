"""``buckaroo-assets``: list, inspect, verify, garbage-collect, build, view and serve bundles.

One module per command group (``listing``, ``maintenance``, ``building``,
``viewing``), each registering its subcommands; ``main`` parses and dispatches.
The top layer: it may import every layer but dagster, and never pandas.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
