"""``html`` and ``serve``: a bundle's Buckaroo page on disk, or every bundle over HTTP."""

from __future__ import annotations

import logging

from ..units import human_size
from .arguments import bundle_arguments, json_flag, positive_number, whole_number
from .context import EXIT_OK, AddCommand, Context, requested_bundle
from .output import print_json


def run_html(ctx: Context) -> int:
    """Write one bundle's viewer page, self-contained, so it opens from disk or mail."""
    args = ctx.args
    _, bundle = requested_bundle(ctx)
    output = args.output or f"{args.dataset or bundle.data_id}.html"
    path = bundle.to_html(output, args.embed, title=args.dataset or bundle.data_id)
    if args.json:
        print_json({"data_id": bundle.data_id, "config_id": bundle.config_id, "path": str(path)})
    else:
        print(f"wrote {path} ({human_size(path.stat().st_size)})")
    return EXIT_OK


def run_serve(ctx: Context) -> int:
    """Serve the store read-only until interrupted, one access-log line per request on stderr."""
    args = ctx.args
    from ..viewer.server import BundleServer

    logging.basicConfig(format="%(asctime)s %(message)s")  # others' warnings still show
    logging.getLogger(BundleServer.__module__).setLevel(logging.INFO)
    server = BundleServer(ctx.store(), args.host, args.port, workers=args.workers)
    print(f"serving {ctx.redact(server.store.url)} at {server.url}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return EXIT_OK


def register(add: AddCommand) -> None:
    page = add("html", run_html, "write a bundle's Buckaroo viewer page as one HTML file")
    bundle_arguments(page)
    page.add_argument("-o", "--output", metavar="PATH",
                      help="where to write the page (default: <dataset or data_id>.html)")
    page.add_argument("--embed", choices=("DFViewer", "Buckaroo"), default="DFViewer",
                      help="plain table with pinned stats, or Buckaroo's view switcher")
    json_flag(page)

    serve = add("serve", run_serve, "serve the store's bundles read-only over HTTP")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=whole_number, default=8765, help="port (default 8765; 0 picks one)")
    serve.add_argument("--workers", type=positive_number, default=8, metavar="N",
                       help="bundle reads and page renders run at once; more wait their turn, "
                            "other requests do not (default 8)")
