"""Data embedded for a page's scripts cannot end or bend the script element (one helper for every page)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from service.kit.script_json import script_json

WEB = Path(__file__).resolve().parents[2] / "service" / "web"


def test_hostile_text_is_escaped_and_reads_back_the_same() -> None:
    value = {"team": "<!--<script>", "community": "</script>", "line": "a\u2028b\u2029c", "amp": "A&B's"}
    out = str(script_json(value))
    for bad in ("<", ">", "\u2028", "\u2029", "&", "'"):
        assert bad not in out
    assert json.loads(out) == value


def test_pages_embed_data_for_scripts_only_through_the_helper() -> None:
    templates = list((WEB / "templates").rglob("*.html"))
    offenders = [
        str(p.relative_to(WEB)) for p in templates if re.search(r"\|\s*(tojson|safe)\b", p.read_text())
    ]
    offenders += [
        str(p.relative_to(WEB)) for p in WEB.glob("*.py") if re.search(r"json\.dumps\(", p.read_text())
    ]
    assert offenders == []
    embedded = [p for p in templates if "<script" in p.read_text() and "script_json" in p.read_text()]
    assert len(embedded) >= 2  # base.html's messages and the dashboard's report
