"""The layering of docs/architecture.md, as the interpreter sees it.

Each layer is imported, with every module in it, in a fresh interpreter; the
test then reads which other layers and which heavy third-party packages that
pulled in.  ``lint-imports`` checks the same rules on the source statically;
this test catches what only running code shows (lazy package attributes,
imports done at module level by a dependency).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PACKAGE = "buckaroo_assets"
LAYERS = ("stats/", "bundle/", "store/", "build/", "reader/", "changes/", "viewer/", "dagster/", "cli/")
THIRD_PARTY = ("pandas", "polars", "dagster", "buckaroo")

# What importing every module of a layer may load (layers written as folders), besides the
# foundation modules errors, version, units.
ALLOWED = {
    "stats/": set(),
    "bundle/": set(),
    "store/": {"bundle/"},
    "build/": {"stats/", "bundle/", "store/"},
    "reader/": {"bundle/", "store/"},  # an app's path: no engine, no pandas, no dagster
    "changes/": {"bundle/", "store/", "reader/"},  # from two bundles alone, like an app
    "viewer/": {"bundle/", "store/", "reader/", "changes/"},
    "dagster/": {"stats/", "bundle/", "store/", "build/", "reader/", "changes/", "dagster", "pandas"},
    "cli/": {"stats/", "bundle/", "store/", "build/", "reader/", "changes/", "viewer/"},
}
# What it must load: a layer that stopped using its neighbours would make the test vacuous.
# The CLI imports the layers a command needs when the command runs, so --help stays instant.
REQUIRED = {
    "store/": {"bundle/"},
    "build/": {"stats/", "bundle/", "store/"},
    "reader/": {"bundle/", "store/"},
    "changes/": {"bundle/", "reader/"},
    "viewer/": {"bundle/", "store/", "reader/"},
    "dagster/": {"build/", "store/", "dagster"},
    "cli/": {"bundle/", "store/"},
}

_PROBE = """
import json, pkgutil, importlib, sys
layer = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(layer.__path__, layer.__name__ + "."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(layer: str) -> set[str]:
    """Layers and third-party packages loaded by importing every module of ``layer``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, f"{PACKAGE}.{layer.rstrip('/')}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    found = set()
    for name in modules:
        top, _, rest = name.partition(".")
        if top == PACKAGE and f"{rest.split('.')[0]}/" in LAYERS:
            found.add(f"{rest.split('.')[0]}/")
        elif top in THIRD_PARTY:
            found.add(top)
    found.discard(layer)
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_loads_only_the_layers_below_it(layer: str) -> None:
    loaded = loaded_by(layer)
    assert loaded <= ALLOWED[layer], f"{layer} pulled in {sorted(loaded - ALLOWED[layer])}"
    assert REQUIRED.get(layer, set()) <= loaded

