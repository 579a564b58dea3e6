"""Pages are as thin as the API: every page handler parses, calls one service or view function and renders.

Read from the source (AST): a handler body over ``PAGE_HANDLER_LINES_MAX`` lines means business logic or
role decisions crept back into the web layer; they belong in the domain's service or views.
"""

from __future__ import annotations

import ast
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "service" / "web"
PAGE_HANDLER_LINES_MAX = 12
ROUTE_DECORATORS = frozenset({"get", "post", "put", "patch", "delete", "route"})


def _handlers() -> dict[str, int]:
    """``module:function`` -> lines of body (docstring excluded) of every routed function in service/web."""
    out: dict[str, int] = {}
    for path in sorted(WEB.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            routed = any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id in ROUTE_DECORATORS
                for d in node.decorator_list
            )
            if not routed:
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            last = body[-1].end_lineno or body[-1].lineno
            out[f"{path.stem}:{node.name}"] = last - body[0].lineno + 1 if body else 0
    return out


def test_every_page_handler_is_at_most_twelve_lines() -> None:
    handlers = _handlers()
    assert len(handlers) >= 30, "the page modules were not found"
    long = {name: n for name, n in handlers.items() if n > PAGE_HANDLER_LINES_MAX}
    assert not long, f"page handlers over {PAGE_HANDLER_LINES_MAX} lines: {long}"


def test_no_page_handler_catches_domain_errors_one_by_one() -> None:
    """A DomainError raised under a page renders error.html in the reader's language by itself: a
    handler does not catch one to show an error page of its own."""
    caught = []
    for path in sorted(WEB.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) or not node.decorator_list:
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ExceptHandler) and inner.type is not None:
                    names = {n.id for n in ast.walk(inner.type) if isinstance(n, ast.Name)}
                    names |= {n.attr for n in ast.walk(inner.type) if isinstance(n, ast.Attribute)}
                    if "DomainError" in names:
                        caught.append(f"{path.name}:{inner.lineno}")
    assert not caught, caught
