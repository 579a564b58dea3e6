"""Data for a page's scripts: JSON that is safe inside ``<script type="application/json">``.

A name like ``<!--<script>`` or ``</script>`` ends or bends a script element when it reaches the HTML
parser as it is (the parser knows nothing of JSON strings), and U+2028/U+2029 end a line in older
JavaScript. Every ``<``, ``>``, ``&``, ``'`` and both separators become ``\\uXXXX`` escapes, which JSON
reads back as the same characters. Pages embed data only through :func:`script_json` (the Jinja filter
``script_json``).
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

__all__ = ["script_json"]

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "'": "\\u0027",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_TABLE = str.maketrans(_ESCAPES)


def script_json(value: Any) -> Markup:
    """``value`` as JSON text that cannot end, comment out or split the script element holding it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.translate(_TABLE))
