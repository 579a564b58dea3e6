"""The import graph keeps its one-way rules (read by AST, nothing imported).

Layers, lowest first; a package imports only its own layer's shared infrastructure and layers below::

    shared infrastructure   kit, errors, problems, clock, config, db, ids, retry, idempotency, models
                            (imports no domain); http (the caller and cookies: may import accounts)
    0  accounts
    1  points               (imports none of activities/store/rewards/wishes/board)
    2  activities, store, rewards, wishes, board, regions, reports, audit, proposals
       (peers import each other only along PEER_EDGES; the audit recorder, service.audit.service,
       is importable by every domain and imports no domain itself)
    3  web                  (pages; never a domain's controllers)
    wiring                  app, cli, demo, jobs: import anything; only app/cli import web, cli, app

Besides: service/views/rules/models/errors modules (and the kit) never import Litestar; no module
imports a ``_private`` name from another package; other domains' service/view modules read accounts
through ``service.accounts.views`` (not its tables; reports' SQL aggregates excepted); no test module
imports another test module (shared helpers live in tests/support).

``ALLOWED_FOR_NOW`` lists today's violations, each with the helper that removes it; the merger empties it.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INFRA = frozenset(
    {"kit", "errors", "problems", "clock", "config", "db", "ids", "retry", "idempotency", "models"}
)
HTTP = "http"
WIRING = frozenset({"app", "cli", "demo", "jobs"})
RANK = {
    "accounts": 0,
    "points": 1,
    **dict.fromkeys(
        ("activities", "store", "rewards", "wishes", "board", "regions", "reports", "audit", "proposals"), 2
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


def edges_of(root: Path, top: str) -> list[Edge]:
    """Every import (at any depth, lazy ones too) of the modules under ``root/top``."""
    known = _modules(root, top)
    out: list[Edge] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
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
        if dst in WIRING:
            if not (base == "demo" and dst == "demo"):  # a domain's demo data takes the demo's shared names
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
        from service.accounts.service import Actor
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
