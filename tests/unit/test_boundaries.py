"""The import graph keeps its one-way rules (read by AST, nothing imported).

Layers, lowest first; a package imports only its own layer's shared infrastructure and layers below::

    shared infrastructure   kit, errors, problems, clock, config, db, dbcode, dbroles, ids, retry,
                            idempotency, models
                            (imports no domain); http (the caller and cookies: may import accounts)
    0  accounts
    1  points               (imports none of activities/store/rewards/wishes/board)
    2  activities, store, rewards, wishes, board, regions, reports, audit, proposals
       (peers import each other only along PEER_EDGES; the audit recorder, service.audit.service,
       is importable by every domain and imports no domain itself)
    3  web                  (pages; never a domain's controllers)
    wiring                  app, cli, demo, jobs: import anything; only app/cli import web, cli, app
                            (a domain's demo data takes the demo's people from accounts/demo.py)

Besides: no import circles among service modules (imports inside functions count; only those under
``if TYPE_CHECKING:`` do not); service/views/rules/models/errors modules (and the kit) never import
Litestar; no module imports a ``_private`` name from another package; other domains' service/view
modules read accounts through ``service.accounts.views`` (not its tables; reports' SQL aggregates
excepted); no test module imports another test module (shared helpers live in tests/support).

``ALLOWED_FOR_NOW`` lists today's violations, each with the helper that removes it; the merger empties it.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INFRA = frozenset(
    {
        "kit",
        "errors",
        "problems",
        "clock",
        "config",
        "db",
        "dbcode",
        "dbroles",
        "ids",
        "retry",
        "idempotency",
        "replica",
        "models",
    }
)
HTTP = "http"
WIRING = frozenset({"app", "cli", "demo", "jobs"})
RANK = {
    "accounts": 0,
    "points": 1,
    "notices": 1,  # any domain tells its members something (a wish dispatched); notices read only accounts
    **dict.fromkeys(
        (
            "activities",
            "store",
            "rewards",
            "wishes",
            "board",
            "regions",
            "reports",
            "audit",
            "proposals",
            "privacy",
            "records",
        ),
        2,
    ),
    "web": 3,
}
PEER_EDGES = {
    "rewards": frozenset({"activities"}),  # residents rate the activities they attended
    "board": frozenset({"activities", "rewards", "wishes"}),  # the public board reads hours, claims, wishes
    # officials' figures aggregate every domain
    "reports": frozenset({"activities", "store", "rewards", "wishes", "board", "regions", "audit"}),
    # a wish is paid from the rewards settings, may be filed for a household member, and dispatch
    # offers volunteers with their service hours
    "wishes": frozenset({"rewards", "activities"}),
    # deciding a policy proposal applies the knob in the domain that owns it, and region officials decide
    "proposals": frozenset({"activities", "store", "rewards", "regions"}),
    # a resident's own data (PIPL) is read from every domain that holds rows about them
    "privacy": frozenset({"activities", "store", "rewards", "wishes", "audit"}),
    # certificates and the hours export state the service records (attendances) and the teams
    "records": frozenset({"activities"}),
}
"""Allowed imports between packages of layer 2 (importer -> imported packages)."""
AUDIT_RECORDER = "service.audit.service"
POINTS_NEVER = frozenset({"activities", "store", "rewards", "wishes", "board"})
ONLY_WIRING_IMPORTS = frozenset({"web", "cli", "app"})
NO_LITESTAR_BASENAMES = frozenset({"service", "views", "queries", "rules", "models", "errors"})
"""Module names (also ``*_service``) that hold business logic or data: no web framework in them."""
READS_ACCOUNTS_TABLES = frozenset({"reports", "audit", "regions"})
"""Packages whose read side joins accounts' tables in SQL: reports' aggregates, and the audit log's and the
region tree's paged lists, which filter and order by people's and communities' names in one query."""

ALLOWED_FOR_NOW: frozenset[str] = frozenset()
"""Violations tolerated while a restructuring is under way (none now)."""


@dataclass(frozen=True)
class Edge:
    importer: str
    target: str
    """The module imported (``service.x.y``), or the module a name was imported from."""
    name: str | None
    """The name imported from ``target`` when it is not a module itself."""
    line: int
    path: Path


def module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path, top: str) -> dict[str, Path]:
    return {module_of(p, root): p for p in sorted((root / top).rglob("*.py"))}


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports for the type checker only."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST, *, skip_type_checking: bool) -> Iterator[ast.AST]:
    """Every node of ``tree`` (like ``ast.walk``), without the bodies of ``if TYPE_CHECKING:`` if asked."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if skip_type_checking and isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def edges_of(root: Path, top: str, *, skip_type_checking: bool = False) -> list[Edge]:
    """Every import (at any depth, lazy ones too) of the modules under ``root/top``; with
    ``skip_type_checking``, not those under ``if TYPE_CHECKING:`` (they never run)."""
    known = _modules(root, top)
    out: list[Edge] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _nodes(tree, skip_type_checking=skip_type_checking):
            if isinstance(node, ast.Import):
                out += [Edge(module, a.name, None, node.lineno, path) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in known or (root / Path(*sub.split("."))).is_dir():
                        out.append(Edge(module, sub, None, node.lineno, path))
                    else:
                        out.append(Edge(module, base, alias.name, node.lineno, path))
    return out


def private_attributes(root: Path, top: str) -> list[Edge]:
    """``alias._name`` where ``alias`` is a module imported from another package (``rewards._text(...)``)."""
    known = _modules(root, top)
    out: list[Edge] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    if sub in known:
                        aliases[a.asname or a.name] = sub
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                out.append(Edge(module, aliases[node.value.id], node.attr, node.lineno, path))
    return out


def package_of(module: str) -> str | None:
    """``service.points.service`` -> ``points``; ``service.http`` -> ``http``; outside service -> None."""
    parts = module.split(".")
    if parts[0] != "service" or len(parts) < 2:
        return None
    return parts[1]


def _owner(module: str) -> str:
    """The package a module belongs to (``service.web.pages`` -> ``service.web``)."""
    return module.rpartition(".")[0] or module


def service_violations(root: Path) -> dict[str, str]:
    """Violations of the service/ rules: ``{key: where}``, the key stable across line moves."""
    found: dict[str, str] = {}

    def bad(rule: str, edge: Edge) -> None:
        target = edge.target + (f".{edge.name}" if edge.name and rule == "private" else "")
        key = f"{rule}: {edge.importer} -> {target}"
        found.setdefault(key, f"{edge.path.relative_to(root)}:{edge.line}")

    edges = edges_of(root, "service")
    for edge in edges:
        src, dst = package_of(edge.importer), package_of(edge.target)
        base = edge.importer.rpartition(".")[2]
        if edge.target.split(".")[0] == "litestar" and (
            base in NO_LITESTAR_BASENAMES or base.endswith("_service") or src == "kit"
        ):
            bad("litestar", edge)
        private = bool(edge.name and edge.name.startswith("_") and not edge.name.startswith("__"))
        if private and dst is not None and _owner(edge.target) != _owner(edge.importer):
            bad("private", edge)
        if src is None or dst is None or src == dst:
            continue
        if dst in ONLY_WIRING_IMPORTS and src not in {"app", "cli"}:
            bad("wiring", edge)
        if src == "web" and edge.target.endswith(".controllers"):
            bad("web-controllers", edge)
        if src == "points" and dst in POINTS_NEVER:
            bad("points", edge)
        if (
            dst == "accounts"
            and src not in READS_ACCOUNTS_TABLES
            and src in RANK
            and src != "web"
            and edge.target == "service.accounts.models"
            and (base in {"service", "views", "queries"} or base.endswith("_service"))
        ):
            bad("accounts-tables", edge)
        if src in WIRING:
            continue
        if edge.importer == AUDIT_RECORDER and dst in RANK:
            bad("recorder", edge)
            continue
        if src in INFRA:
            if dst not in INFRA:
                bad("infra", edge)
            continue
        if src == HTTP:
            if dst not in INFRA and dst != "accounts":
                bad("http", edge)
            continue
        if dst in INFRA or dst == HTTP or edge.target == AUDIT_RECORDER:
            continue
        if dst in WIRING:  # a domain's demo data takes the demo's people from service.accounts.demo
            bad("wiring", edge)
            continue
        if src not in RANK or dst not in RANK:
            bad("unknown-package", edge)
            continue
        if RANK[dst] > RANK[src]:
            bad("layer", edge)
        elif (
            RANK[dst] == RANK[src]
            and dst not in PEER_EDGES.get(src, frozenset())
            and not (base == "demo" and edge.target.endswith(".models"))  # demo data seeds peers' tables
        ):
            bad("peer", edge)
    for edge in private_attributes(root, "service"):
        if _owner(edge.target) != _owner(edge.importer):
            bad("private", edge)
    return found


def import_cycles(root: Path, top: str = "service") -> list[list[Edge]]:
    """The import circles among the modules under ``root/top``, each as the edges of one loop.

    Every import counts, at module level or inside a function (a lazy import only hides a circle until
    the function runs), except those under ``if TYPE_CHECKING:``. One loop per strongly connected
    component (Tarjan), the shortest through its first module in sorted order.
    """
    known = _modules(root, top)
    graph: dict[str, dict[str, Edge]] = {m: {} for m in known}
    for edge in edges_of(root, top, skip_type_checking=True):
        if edge.target in known and edge.target != edge.importer:
            graph[edge.importer].setdefault(edge.target, edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_loop(graph, component) for component in sorted(components)]


def _loop(graph: dict[str, dict[str, Edge]], component: list[str]) -> list[Edge]:
    """The shortest loop from the component's first module back to it (breadth first, inside it)."""
    start, inside = component[0], set(component)
    came: dict[str, Edge] = {}
    queue = [start]
    for v in queue:
        for w, edge in sorted(graph[v].items()):
            if w == start:
                loop = [edge]
                while loop[0].importer != start:
                    loop.insert(0, came[loop[0].importer])
                return loop
            if w in inside and w not in came:
                came[w] = edge
                queue.append(w)
    raise AssertionError(f"no loop through {start}")  # a component of 2+ modules always has one


def describe(loop: list[Edge], root: Path) -> str:
    """``a -> b (a.py:3) -> a (b.py:9)``: the circle and where each import is."""
    steps = [f"{e.target} ({e.path.relative_to(root)}:{e.line})" for e in loop]
    return " -> ".join([loop[0].importer, *steps])


def violations_in_tests(root: Path) -> dict[str, str]:
    """No test module imports another test module (or conftest): shared helpers live in tests/support."""
    found: dict[str, str] = {}
    for edge in edges_of(root, "tests"):
        last = edge.target.rpartition(".")[2]
        if edge.target.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
            where = f"{edge.path.relative_to(root)}:{edge.line}"
            found.setdefault(f"tests: {edge.importer} -> {edge.target}", where)
    return found


# ---------------------------------------------------------------- the rules, on Jifen


def test_service_imports_follow_the_one_way_rules() -> None:
    found = service_violations(ROOT)
    new = {k: v for k, v in found.items() if k not in ALLOWED_FOR_NOW}
    assert not new, "import rules broken:\n" + "\n".join(f"  {v}  {k}" for k, v in sorted(new.items()))


def test_no_test_module_imports_another() -> None:
    found = violations_in_tests(ROOT)
    new = {k: v for k, v in found.items() if k not in ALLOWED_FOR_NOW}
    assert not new, "test modules importing test modules:\n" + "\n".join(
        f"  {v}  {k}" for k, v in sorted(new.items())
    )


def test_every_allowed_violation_still_exists() -> None:
    """An entry of ALLOWED_FOR_NOW that no longer happens is deleted, so it cannot come back unnoticed."""
    found = service_violations(ROOT) | violations_in_tests(ROOT)
    stale = sorted(ALLOWED_FOR_NOW - found.keys())
    assert not stale, "fixed: delete from ALLOWED_FOR_NOW:\n" + "\n".join(f"  {k}" for k in stale)


def test_no_import_cycles_among_service_modules() -> None:
    """A circle makes import order matter and hides which layer owns what: none, lazy imports included."""
    loops = import_cycles(ROOT)
    assert not loops, "import circles:\n" + "\n".join(f"  {describe(loop, ROOT)}" for loop in loops)


def test_errors_module_is_pure() -> None:
    found = [e for e in edges_of(ROOT, "service") if e.importer == "service.errors"]
    assert {e.target for e in found} <= {"__future__", "collections.abc", "typing"}, found


# ---------------------------------------------------------------- the checker catches what it should


def _tree(root: Path, spec: str) -> Path:
    """Files from ``spec``: a ``# path`` line, then that file's lines."""
    files: dict[str, list[str]] = {}
    for line in textwrap.dedent(spec).strip().splitlines():
        if line.startswith("# "):
            files[line[2:]] = []
        else:
            files[list(files)[-1]].append(line)
    for name, lines in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line}\n" for line in lines))
    for directory in {p.parent for p in root.rglob("*.py")}:
        (directory / "__init__.py").touch()
    return root


def test_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        """
        # service/errors.py
        # service/accounts/service.py
        from service.points import service as points
        # service/points/service.py
        from service.store.service import buy
        # service/store/service.py
        from litestar import Request
        from service.rewards.service import _text
        # service/rewards/service.py
        from service.points import service as p
        x = p._lock()
        # service/rewards/views.py
        from service.accounts.models import Member
        # service/web/pages.py
        from service.store.controllers import cookie
        # service/store/controllers.py
        from litestar import get
        from service.web import pages
        # service/kit/qr.py
        from service.points.service import balance
        # service/http.py
        from service.store import service
        # service/audit/service.py
        from service.accounts.models import Member
        # service/activities/service.py
        from service.audit.service import record
        from service import clock
        # service/clock.py
        # tests/api/test_a.py
        from tests.api.test_b import helper
        from tests.support import world
        # tests/api/test_b.py
        from tests.conftest import SECRET
        # tests/conftest.py
        # tests/support/world.py
        """,
    )
    found = service_violations(root) | violations_in_tests(root)
    assert set(found) == {
        "layer: service.accounts.service -> service.points.service",
        "points: service.points.service -> service.store.service",
        "layer: service.points.service -> service.store.service",
        "litestar: service.store.service -> litestar",
        "private: service.store.service -> service.rewards.service._text",
        "peer: service.store.service -> service.rewards.service",
        "private: service.rewards.service -> service.points.service._lock",
        "accounts-tables: service.rewards.views -> service.accounts.models",
        "web-controllers: service.web.pages -> service.store.controllers",
        "wiring: service.store.controllers -> service.web.pages",
        "layer: service.store.controllers -> service.web.pages",
        "infra: service.kit.qr -> service.points.service",
        "http: service.http -> service.store.service",
        "recorder: service.audit.service -> service.accounts.models",
        "tests: tests.api.test_a -> tests.api.test_b",
        "tests: tests.api.test_b -> tests.conftest",
    }, sorted(found)
    assert found["litestar: service.store.service -> litestar"] == "service/store/service.py:1"


def test_checker_accepts_the_allowed_shape(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        """
        # service/errors.py
        # service/http.py
        from service.accounts.actor import Actor
        from service.errors import Forbidden
        # service/accounts/service.py
        from service.errors import Conflict
        # service/points/service.py
        from service.accounts import views
        from service.audit.service import record
        # service/board/views.py
        from service.activities import views
        from service.points.service import balance
        # service/activities/controllers.py
        from litestar import get
        from service.http import login_of
        # service/activities/views.py
        from service.activities.service import _scan
        # service/activities/service.py
        # service/audit/service.py
        from service.audit.models import AuditEvent
        # service/web/pages.py
        from service.activities import views
        from service.http import TOKEN_COOKIE
        # service/app.py
        from service.web import pages
        from service.activities.controllers import ROUTES
        # tests/api/test_a.py
        from tests.support.world import World
        # tests/support/world.py
        """,
    )
    assert service_violations(root) | violations_in_tests(root) == {}


def test_cycle_checker_finds_circles_lazy_imports_included(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        """
        # service/accounts/service.py
        from service.accounts import onboarding
        # service/accounts/onboarding.py
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from service.accounts.views import Card
        def invite():
            from service.accounts.service import Actor
        # service/accounts/views.py
        from .onboarding import invite
        # service/demo.py
        from service.points.demo import seed
        # service/points/demo.py
        from service.points import ledger
        # service/points/ledger.py
        import service.demo
        # service/web/site.py
        from service.web import pages
        # service/web/pages.py
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from service.web.site import Site
        else:
            from service.web import render
        # service/web/render.py
        """,
    )
    loops = import_cycles(root)
    assert [describe(loop, root) for loop in loops] == [
        "service.accounts.onboarding -> service.accounts.service (service/accounts/onboarding.py:5)"
        " -> service.accounts.onboarding (service/accounts/service.py:1)",
        "service.demo -> service.points.demo (service/demo.py:1)"
        " -> service.points.ledger (service/points/demo.py:1) -> service.demo (service/points/ledger.py:1)",
    ]


def test_cycle_checker_ignores_type_checking_imports_only(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        """
        # service/web/site.py
        from service.web import pages
        # service/web/pages.py
        import typing
        if typing.TYPE_CHECKING:
            from service.web.site import Site
        def home():
            from service.web import render
        # service/web/render.py
        from service.web.i18n import translator
        # service/web/i18n.py
        """,
    )
    assert import_cycles(root) == []
    (root / "service/web/i18n.py").write_text("def f():\n    from service.web.pages import home\n")
    assert [describe(loop, root) for loop in import_cycles(root)] == [
        "service.web.i18n -> service.web.pages (service/web/i18n.py:2)"
        " -> service.web.render (service/web/pages.py:5) -> service.web.i18n (service/web/render.py:1)"
    ]
