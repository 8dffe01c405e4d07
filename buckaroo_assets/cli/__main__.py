"""``python -m buckaroo_assets.cli``: the same as the ``buckaroo-assets`` console script."""

from .main import main

raise SystemExit(main())
