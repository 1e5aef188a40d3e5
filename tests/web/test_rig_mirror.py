"""static/avatar/rig.js mirrors animation/rig.py: the page builds exactly the rig motion targets."""

from __future__ import annotations

import json
import re
from pathlib import Path

from animation import rig

RIG_JS = Path(__file__).resolve().parents[2] / "static" / "avatar" / "rig.js"


def test_rig_js_mirrors_rig_py() -> None:
    text = RIG_JS.read_text(encoding="utf-8")
    match = re.search(r"/\* rig-json \*/(.*?)/\* /rig-json \*/", text, re.S)
    assert match, "rig.js must keep its JSON between the rig-json markers"
    data = json.loads(match.group(1))
    assert [b["name"] for b in data["bones"]] == list(rig.BONES)
    for entry in data["bones"]:
        spec = rig.BONES[entry["name"]]
        assert entry["parent"] == spec.parent
        assert tuple(entry["offset"]) == spec.offset
        assert entry["optional"] == spec.optional
    assert data["morphs"] == list(rig.MORPHS)
    assert data["propertyArity"] == dict(rig.PROPERTY_ARITY)
