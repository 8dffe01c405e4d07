"""Which fragments a fragmented dataset's latest merge used, one small object per config.

``v1/partials/<dataset>/.members-<config_id>.json`` holds ``{"fragments": [ids]}``.
Merges write it (``PartialFiles.set_members``) and ``gc`` reads it to remove the
partials of fragments that are gone; both go through this module, so the name
and the format have one owner. A fragment id never starts with ``.``, so no
fragment folder can take this name.
"""

from __future__ import annotations

import json

from ..bundle.ids import validate_config_id, validate_data_id
from ..errors import PartialStatsError
from .layout import Layout

_PREFIX, _SUFFIX = ".members-", ".json"


def members_path(layout: Layout, dataset: str, config_id: str) -> str:
    validate_data_id(dataset, what="dataset name")
    validate_config_id(config_id)
    return f"{layout.partials(dataset)}/{_PREFIX}{config_id}{_SUFFIX}"


def members_config(name: str) -> str | None:
    """The config_id an object named ``name`` lists the fragments of, or None."""
    if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
        return name[len(_PREFIX) : -len(_SUFFIX)]
    return None


def members_bytes(fragment_ids: list[str]) -> bytes:
    for fragment_id in fragment_ids:
        validate_data_id(fragment_id, what="fragment id")
    return json.dumps({"fragments": sorted(fragment_ids)}).encode()


def parse_members(path: str, raw: bytes) -> set[str]:
    """The fragment ids in a members object; anything else is ``PartialStatsError``."""
    try:
        fragments = json.loads(raw)["fragments"]
        return {validate_data_id(f, what="fragment id") for f in fragments}
    except (ValueError, TypeError, KeyError) as exc:
        raise PartialStatsError(f"{path}: not a fragment list ({exc})") from None
