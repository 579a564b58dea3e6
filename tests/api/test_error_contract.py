"""Every error a service function can raise is declared, and every declared error is in its route's OpenAPI.

Read from the code itself (AST of each function, resolved through the module's globals at runtime), so
there are no hand-typed lists to drift:

a. A function decorated ``@raises(...)`` declares (``declared_errors``) a superclass of every
   ``raise Cls(...)`` in its body, of every error an undecorated helper it calls raises (recursively,
   helpers defined in service/), and of the declared errors of decorated functions it calls. A helper
   that returns an error (``raise _invalid(...)``) counts by its return annotation.
b. Every /api route documents, in its OpenAPI responses (``errors_of``), every code the service functions
   its handler calls (nested functions included) declare, and the codes of errors it raises itself.
c. ``raise Cls("code", ...)`` passes no code but the class's own (``InvalidField``: ``invalid_<field>``).

``NOT_YET_CONVERTED`` names packages whose helper is still moving them to error classes: skipped until the
merge, which empties it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import service
from service.errors import DomainError, declared_errors
from service.kit.text import InvalidField

NOT_YET_CONVERTED: frozenset[str] = frozenset()
"""Packages (or modules) not yet converted to error classes and ``@raises``; the merger empties this."""

ROOTS = ("service.",)
ErrorClass = type[DomainError]


# ---------------------------------------------------------------- resolving names in a function


def _is_error_class(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, DomainError)


def _function(obj: object) -> types.FunctionType | None:
    """The plain function behind ``obj`` (a function, a method, a staticmethod), else None."""
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if inspect.ismethod(obj):
        obj = obj.__func__
    return obj if isinstance(obj, types.FunctionType) else None


def _ours(fn: Callable[..., Any], roots: tuple[str, ...]) -> bool:
    return any(fn.__module__.startswith(r) or fn.__module__ == r.rstrip(".") for r in roots)


def _skipped(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in NOT_YET_CONVERTED)


@dataclass
class Source:
    """A function's AST with what its names mean at runtime."""

    fn: types.FunctionType
    tree: ast.AST
    path: str
    first_line: int
    names: dict[str, object]

    def line(self, node: ast.AST) -> int:
        return self.first_line + getattr(node, "lineno", 1) - 1

    def where(self, node: ast.AST) -> str:
        return f"{self.path}:{self.line(node)}"

    def resolve(self, expr: ast.expr) -> object | None:
        if isinstance(expr, ast.Name):
            if expr.id in self.names:
                return self.names[expr.id]
            return getattr(builtins, expr.id, None)
        if isinstance(expr, ast.Attribute):
            base = self.resolve(expr.value)
            return None if base is None else getattr(base, expr.attr, None)
        return None


_sources: dict[types.FunctionType, Source] = {}


def source_of(fn: types.FunctionType) -> Source:
    """``fn``'s AST; names resolve through its globals, its closure and the imports inside it."""
    if fn in _sources:
        return _sources[fn]
    inner = inspect.unwrap(fn)
    assert isinstance(inner, types.FunctionType)
    lines, first = inspect.getsourcelines(inner)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    names: dict[str, object] = dict(inner.__globals__)
    if inner.__closure__:
        for name, cell in zip(inner.__code__.co_freevars, inner.__closure__, strict=True):
            with contextlib.suppress(ValueError):  # an empty cell
                names[name] = cell.cell_contents
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is None:
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                names[alias.asname or alias.name] = value
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = importlib.import_module(
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
    path = inspect.getsourcefile(inner) or "?"
    with contextlib.suppress(ValueError):
        path = str(Path(path).relative_to(Path.cwd()))
    _sources[fn] = Source(inner, tree, path, first, names)
    return _sources[fn]


def _returned_errors(fn: types.FunctionType) -> tuple[ErrorClass, ...]:
    """The error classes a helper's return annotation names (``def _invalid(...) -> InvalidInput``)."""
    inner = inspect.unwrap(fn)
    annotation: object = inner.__annotations__.get("return")
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, dict(inner.__globals__))  # our own annotations
        except NameError:  # a name imported only under TYPE_CHECKING: no error class of ours
            return ()
    if _is_error_class(annotation):
        return (typing.cast(ErrorClass, annotation),)
    return tuple(a for a in typing.get_args(annotation) if _is_error_class(a))


# ---------------------------------------------------------------- (a) what a function can raise


@dataclass(frozen=True)
class Raised:
    cls: ErrorClass
    where: str
    """The ``raise`` (file:line), or the call of a decorated function that declares ``cls``."""
    via: tuple[str, ...] = ()
    """The undecorated helpers the error passes through, outermost first."""


def _named_functions(fn: Callable[..., Any]) -> set[types.FunctionType]:
    """The functions ``fn``'s ``@raises`` names, expanded: their errors are declared already."""
    out: set[types.FunctionType] = set()

    def walk(source: object) -> None:
        plain = _function(source)
        if plain is None or plain in out:
            return
        out.add(plain)
        for inner in getattr(source, "__raises__", ()):
            walk(inner)

    for inner in getattr(fn, "__raises__", ()):
        walk(inner)
    return out


def _called(src: Source, node: ast.Call) -> Iterator[tuple[object, ast.AST]]:
    """What a call runs: the callee, and functions handed to it (``partial(points.hold, ...)``)."""
    yield src.resolve(node.func), node
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(arg, ast.Name | ast.Attribute):
            value = src.resolve(arg)
            if _function(value) is not None:
                yield value, arg


def raised_by(
    fn: types.FunctionType,
    roots: tuple[str, ...] = ROOTS,
    covered: set[types.FunctionType] | None = None,
    _stack: tuple[types.FunctionType, ...] = (),
) -> list[Raised]:
    """Every error class ``fn`` can raise, by its own ``raise`` statements and those of what it calls.

    ``covered`` are functions whose errors are declared already (named in the caller's ``@raises``).
    """
    covered = covered or set()
    src = source_of(fn)
    caught = _caught(src)
    out: list[Raised] = []

    def add(found: Raised, node: ast.AST) -> None:
        if not any(issubclass(found.cls, c) for c in caught.get(id(node), ())):
            out.append(found)

    for node in ast.walk(src.tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            target = src.resolve(exc)
            if _is_error_class(target):
                add(Raised(typing.cast(ErrorClass, target), src.where(node)), node)
            elif (helper := _function(target)) is not None:
                for cls in _returned_errors(helper):
                    add(Raised(cls, src.where(node)), node)
        if not isinstance(node, ast.Call):
            continue
        for target, at in _called(src, node):
            callee = _function(target)
            if callee is None or not _ours(callee, roots) or callee in covered or callee in _stack:
                continue
            if callee is fn:
                continue
            name = f"{callee.__module__}.{callee.__qualname__}"
            if hasattr(target, "__raises__") or hasattr(callee, "__raises__"):
                declared = declared_errors(target if hasattr(target, "__raises__") else callee)
                for cls in declared:
                    add(Raised(cls, src.where(at), (name,)), node)
                continue
            for inner in raised_by(callee, roots, covered, (*_stack, fn)):
                add(Raised(inner.cls, inner.where, (name, *inner.via)), node)
    return out


def _caught(src: Source) -> dict[int, tuple[type[BaseException], ...]]:
    """For each node inside a ``try`` body, the exception classes its handlers catch and do not re-raise
    (``except OutOfStock: raise Conflict(...)`` turns the one into the other)."""
    out: dict[int, tuple[type[BaseException], ...]] = {}

    def classes(expr: ast.expr | None) -> tuple[type[BaseException], ...]:
        if expr is None:
            return (BaseException,)
        items = expr.elts if isinstance(expr, ast.Tuple) else [expr]
        found = [src.resolve(item) for item in items]
        return tuple(c for c in found if isinstance(c, type) and issubclass(c, BaseException))

    def visit(node: ast.AST, enclosing: tuple[type[BaseException], ...]) -> None:
        if isinstance(node, ast.Try | ast.TryStar):
            catches = tuple(
                c
                for handler in node.handlers
                if not any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler))
                for c in classes(handler.type)
            )
            for child in node.body:
                visit(child, (*enclosing, *catches))
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, enclosing)
            return
        if enclosing:
            out[id(node)] = enclosing
        for child in ast.iter_child_nodes(node):
            visit(child, enclosing)

    visit(src.tree, ())
    return out


def undeclared(fn: Callable[..., Any], roots: tuple[str, ...] = ROOTS) -> list[str]:
    """What ``fn`` can raise that its ``@raises`` does not cover, one line each (empty: all covered)."""
    plain = _function(fn)
    assert plain is not None, fn
    declared = declared_errors(fn)
    problems: list[str] = []
    for found in raised_by(plain, roots, _named_functions(fn), (plain,)):
        if any(issubclass(found.cls, d) for d in declared):
            continue
        via = f" via {' -> '.join(found.via)}" if found.via else ""
        line = (
            f"{fn.__module__}.{plain.__qualname__} can raise {found.cls.__module__}.{found.cls.__qualname__}"
            f" ({found.cls.code}) at {found.where}{via}, not declared in @raises"
        )
        if line not in problems:
            problems.append(line)
    return problems


# ---------------------------------------------------------------- (c) codes match their classes


def _relative(path: str) -> str:
    return str(Path(path).relative_to(Path.cwd())) if Path(path).is_relative_to(Path.cwd()) else path


def code_mismatches(module: types.ModuleType) -> list[str]:
    """``raise Cls("code", ...)`` / ``return Cls("code", ...)`` with a code other than ``Cls.code``."""
    path = inspect.getsourcefile(module)
    if path is None:
        return []
    tree = ast.parse(Path(path).read_text(), path)
    names = vars(module)
    out: list[str] = []

    def resolve(expr: ast.expr) -> object | None:
        if isinstance(expr, ast.Name):
            return names.get(expr.id, getattr(builtins, expr.id, None))
        if isinstance(expr, ast.Attribute):
            base = resolve(expr.value)
            return None if base is None else getattr(base, expr.attr, None)
        return None

    local: dict[str, object] = {}
    for node in ast.walk(tree):  # imports inside functions (``from service.errors import DomainError``)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(imported, alias.name):
                    local.setdefault(alias.asname or alias.name, getattr(imported, alias.name))
    names = {**local, **names}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise | ast.Return) or not isinstance(
            getattr(node, "exc", None) or getattr(node, "value", None), ast.Call
        ):
            continue
        call = typing.cast(ast.Call, getattr(node, "exc", None) or getattr(node, "value", None))
        cls = resolve(call.func)
        if not _is_error_class(cls):
            continue
        error = typing.cast(ErrorClass, cls)
        code: ast.expr | None = call.args[0] if call.args else None
        code = next((k.value for k in call.keywords if k.arg == "code"), code)
        if code is None or (isinstance(code, ast.Constant) and code.value is None):
            continue
        where = f"{_relative(path)}:{node.lineno}"
        if issubclass(error, InvalidField):
            text = code.value if isinstance(code, ast.Constant) else None
            if isinstance(code, ast.JoinedStr) and code.values and isinstance(code.values[0], ast.Constant):
                text = str(code.values[0].value)
            if not (isinstance(text, str) and text.startswith("invalid_")):
                out.append(f"{where}: {error.__qualname__} code must be invalid_<field>")
            continue
        if not isinstance(code, ast.Constant):
            out.append(f"{where}: {error.__qualname__} with a computed code (only its own, {error.code!r})")
        elif code.value != error.code:
            out.append(
                f"{where}: {error.__qualname__}({code.value!r}) - its code is {error.code!r}; add a class"
            )
    return out


# ---------------------------------------------------------------- finding the functions


def service_modules() -> list[types.ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(service.__path__, "service.")]
    return [importlib.import_module(n) for n in ["service", *names]]


def declared_functions(module: types.ModuleType) -> Iterator[Callable[..., Any]]:
    """Functions and methods defined in ``module`` that carry ``@raises``."""
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            for member in vars(value).values():
                plain = _function(member)
                if plain is not None and hasattr(
                    member if hasattr(member, "__raises__") else plain, "__raises__"
                ):
                    yield plain
        plain = _function(value)
        if plain is not None and plain.__module__ == module.__name__ and hasattr(value, "__raises__"):
            yield value


# ---------------------------------------------------------------- (b) routes and their OpenAPI


def _plain_path(path: str) -> str:
    return re.sub(r"\{([^}:]+)(:[^}]+)?\}", r"{\1}", path)


@dataclass
class RouteCheck:
    missing: list[str] = field(default_factory=list)
    checked: int = 0


def route_codes(handler_fn: Callable[..., Any], roots: tuple[str, ...] = ROOTS) -> dict[str, tuple[int, str]]:
    """{code: (status, why)} of a route handler: the errors it raises itself, those the decorated functions
    it calls declare, and those of undecorated helpers it calls (recursively), nested functions included."""
    plain = _function(handler_fn)
    assert plain is not None
    out: dict[str, tuple[int, str]] = {}
    for found in raised_by(plain, roots, set(), (plain,)):
        why = f"at {found.where}" + (f" via {' -> '.join(found.via)}" if found.via else "")
        out.setdefault(found.cls.code, (found.cls.status, why))
    return out


def check_routes(app: Any, schema: dict[str, Any], roots: tuple[str, ...] = ROOTS) -> RouteCheck:
    result = RouteCheck()
    paths = schema["paths"]
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", ()):
            fn = handler.fn
            module = getattr(fn, "__module__", "")
            if not any(module.startswith(r) for r in roots) or _skipped(module):
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                op = paths.get(_plain_path(route.path), {}).get(method.lower())
                assert op is not None, (method, route.path)
                result.checked += 1
                responses = op.get("responses", {})
                for code, (status, why) in sorted(route_codes(fn, roots).items()):
                    documented = responses.get(str(status), {}).get("description", "")
                    if code not in re.split(r"[,\s]+", documented):
                        result.missing.append(
                            f"{method} {route.path}: {status} {code} ({why}) missing from OpenAPI;"
                            f" add the function or class to errors_of(...)"
                        )
    return result


# ---------------------------------------------------------------- the contract, on Jifen

FUNCTIONS_CHECKED_AT_LEAST = 229
ROUTES_CHECKED_AT_LEAST = 129
"""How many ``@raises`` functions and /api routes the checks below read (their counts when the floors
were set); raise them as the service grows, never lower them."""


def test_every_declaration_covers_what_the_function_raises() -> None:
    problems: list[str] = []
    checked = 0
    for module in service_modules():
        if _skipped(module.__name__):
            continue
        for fn in declared_functions(module):
            checked += 1
            problems += undeclared(fn)
    # A floor, so a renamed decorator attribute (nothing found, nothing checked) cannot pass quietly.
    assert checked >= FUNCTIONS_CHECKED_AT_LEAST, f"only {checked} declared functions found"
    assert not problems, "undeclared errors:\n" + "\n".join(f"  {p}" for p in problems)


def test_every_route_documents_the_errors_its_services_declare() -> None:
    from service.app import create_app
    from service.config import Settings

    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        secret_key="contract-" + "x" * 40,
        jobs_interval_seconds=0,
    )
    app = create_app(settings)
    result = check_routes(app, app.openapi_schema.to_schema())
    assert result.checked >= ROUTES_CHECKED_AT_LEAST, f"only {result.checked} routes checked"
    assert not result.missing, "routes whose OpenAPI misses errors:\n" + "\n".join(
        f"  {m}" for m in result.missing
    )


def test_errors_are_raised_with_their_own_code() -> None:
    problems: list[str] = []
    for module in service_modules():
        if not _skipped(module.__name__):
            problems += code_mismatches(module)
    assert not problems, "codes that differ from their class:\n" + "\n".join(f"  {p}" for p in problems)


def test_not_yet_converted_names_real_packages() -> None:
    known = {m.__name__ for m in service_modules()}
    assert known >= NOT_YET_CONVERTED, sorted(NOT_YET_CONVERTED - known)


# ---------------------------------------------------------------- the checker, on a converted sample

SAMPLE = """
from __future__ import annotations

from service.errors import Conflict, Forbidden, InvalidInput, NotFound, raises
from service.kit.text import InvalidField, bounded_text


class OutOfStock(Conflict):
    code = "out_of_stock"
    message = "Only %(stock)s left."


class NoSuchThing(NotFound):
    code = "no_such_thing"


class NotYours(Forbidden):
    code = "not_yours"


def _invalid(detail: str) -> InvalidInput:
    return InvalidInput(detail=detail)


def _find(key: int) -> int:
    if key < 0:
        raise NoSuchThing()
    return key


def _deep(key: int) -> int:
    return _find(key) + 1


@raises(NotYours)
def guard(who: str) -> None:
    if who != "me":
        raise NotYours()


@raises(OutOfStock, NoSuchThing)
def complete(key: int) -> int:
    if key > 9:
        raise OutOfStock(params={"stock": 9})
    return _deep(key)


@raises(OutOfStock)
def misses_a_helper(key: int) -> int:
    if key > 9:
        raise OutOfStock(params={"stock": 9})
    return _deep(key)


@raises(OutOfStock)
def misses_a_callee(key: int) -> int:
    guard("you")
    raise OutOfStock()


@raises(OutOfStock, guard)
def names_its_callee(key: int) -> int:
    guard("you")
    raise OutOfStock()


@raises()
def misses_a_returned_error(key: int) -> int:
    raise _invalid("no")


@raises(Conflict)
def a_superclass_covers(key: int) -> int:
    raise OutOfStock()


@raises(InvalidField)
def nested_work(key: int) -> None:
    async def work() -> None:
        raise NotYours()

    bounded_text("x", "title", high=3)


@raises(NotYours)
def converts(key: int) -> None:
    try:
        _find(key)
    except NoSuchThing as exc:
        raise NotYours() from exc
    try:
        guard("you")
    except NotYours:
        raise


class Shelf:
    @raises(OutOfStock)
    def take(self, n: int) -> None:
        _find(n)


def wrong_code() -> None:
    raise Conflict("out_of_stock")


def right_codes(field: str) -> None:
    if field:
        raise InvalidField(f"invalid_{field}")
    raise OutOfStock("out_of_stock")


def computed_code(code: str) -> None:
    raise NotFound(code)
"""

ROUTES_SAMPLE = """
from __future__ import annotations

from service.errors import InvalidInput
from contract_sample import domain


async def handler(key: int) -> int:
    async def work() -> int:
        return domain.complete(key)

    if key == 0:
        raise InvalidInput()
    domain.guard("me")
    return await work()
"""


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    package = tmp_path / "contract_sample"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "domain.py").write_text(SAMPLE)
    (package / "routes.py").write_text(ROUTES_SAMPLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module("contract_sample.domain")
    yield module
    for name in [n for n in sys.modules if n.startswith("contract_sample")]:
        del sys.modules[name]


SAMPLE_ROOTS = ("contract_sample.", "service.")


def test_checker_passes_complete_declarations(sample: types.ModuleType) -> None:
    for name in ("guard", "complete", "names_its_callee", "a_superclass_covers", "converts"):
        assert undeclared(getattr(sample, name), SAMPLE_ROOTS) == [], name


def test_checker_finds_an_error_of_an_undecorated_helper(sample: types.ModuleType) -> None:
    [problem] = undeclared(sample.misses_a_helper, SAMPLE_ROOTS)
    assert "misses_a_helper can raise contract_sample.domain.NoSuchThing (no_such_thing)" in problem
    line = SAMPLE.splitlines().index("        raise NoSuchThing()") + 1
    assert f"contract_sample/domain.py:{line}" in problem
    assert "via contract_sample.domain._deep -> contract_sample.domain._find" in problem


def test_checker_finds_an_undeclared_decorated_callee(sample: types.ModuleType) -> None:
    [problem] = undeclared(sample.misses_a_callee, SAMPLE_ROOTS)
    assert "NotYours (not_yours)" in problem and "via contract_sample.domain.guard" in problem


def test_checker_counts_a_helper_that_returns_an_error(sample: types.ModuleType) -> None:
    [problem] = undeclared(sample.misses_a_returned_error, SAMPLE_ROOTS)
    assert "service.errors.InvalidInput (invalid_input)" in problem


def test_checker_reads_nested_functions_and_methods(sample: types.ModuleType) -> None:
    [problem] = undeclared(sample.nested_work, SAMPLE_ROOTS)
    assert "NotYours" in problem
    found = list(declared_functions(sample))
    assert sample.Shelf.take in found and sample.complete in found and sample.wrong_code not in found
    [problem] = undeclared(sample.Shelf.take, SAMPLE_ROOTS)
    assert "NoSuchThing" in problem


def test_checker_finds_codes_that_differ_from_their_class(sample: types.ModuleType) -> None:
    found = code_mismatches(sample)
    assert len(found) == 2, found
    assert "Conflict('out_of_stock') - its code is 'conflict'" in found[0]
    assert "NotFound with a computed code" in found[1]


def test_checker_finds_route_codes_through_nested_functions(sample: types.ModuleType) -> None:
    routes = importlib.import_module("contract_sample.routes")
    codes = route_codes(routes.handler, SAMPLE_ROOTS)
    assert {c: s for c, (s, _why) in codes.items()} == {
        "invalid_input": 422,
        "not_yours": 403,
        "out_of_stock": 409,
        "no_such_thing": 404,
    }


def test_checker_finds_a_route_whose_openapi_misses_a_code(sample: types.ModuleType) -> None:
    from litestar import Litestar, get

    from service.http import errors_of

    @get("/api/full", responses=errors_of(sample.complete, sample.guard), sync_to_thread=False)
    def full() -> int:
        return sample.complete(1) + (sample.guard("me") or 0)

    @get("/api/short", responses=errors_of(sample.complete), sync_to_thread=False)
    def short() -> int:
        return sample.complete(1) + (sample.guard("me") or 0)

    app = Litestar([full, short])
    result = check_routes(app, app.openapi_schema.to_schema(), (__name__, "contract_sample."))
    assert result.checked == 2
    [missing] = result.missing
    assert missing.startswith("GET /api/short: 403 not_yours (at "), missing
    assert "via contract_sample.domain.guard" in missing
