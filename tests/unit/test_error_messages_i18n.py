"""Every message a person can be shown has a Chinese translation: each DomainError detail, each field
message, each field name, each validation and HTTP message, each script message.

The messages are found by reading the source (AST), not from a hand-typed list: every construction of
a DomainError subclass, and every helper that forwards its argument into one, anywhere in ``service/``.
A detail built with an f-string or ``+`` cannot be translated and fails the test: write a msgid with
``%(name)s`` placeholders and pass ``params``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from service import problems as errors
from service.web import activities_pages, pages, render
from service.web.i18n import translator

SERVICE = Path(__file__).resolve().parents[2] / "service"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass
class Found:
    messages: dict[str, str] = field(default_factory=dict)
    """msgid -> where it is used."""
    fields: dict[str, str] = field(default_factory=dict)
    """field name shown to people (params["field"]) -> where."""
    untranslatable: list[str] = field(default_factory=list)
    """Places that build a message at run time (f-string, concatenation): they cannot be translated."""
    error_classes: set[str] = field(default_factory=set)


def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(SERVICE.rglob("*.py"))}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """DomainError and every class that inherits from it (to any depth), plus message carriers:
    classes with a ``template`` field (e.g. an import problem), whose template is a msgid too."""
    classes = {"DomainError"}
    carriers: set[str] = set()
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in classes:
                    if any(_name(b) in classes for b in node.bases):
                        classes.add(node.name)
                        changed = True
                    elif any(
                        isinstance(s, ast.AnnAssign)
                        and isinstance(s.target, ast.Name)
                        and s.target.id == "template"
                        for s in node.body
                    ):
                        carriers.add(node.name)
    return classes | carriers


# The message's place: DomainError(code, detail), ImportProblem(line, template, params).
def _message_arg(call: ast.Call, callee: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg in {"detail", "template", "message"}:
            return kw.value
    index = 1
    return call.args[index] if len(call.args) > index else None


def _dict_value(node: ast.expr | None, key: str) -> ast.expr | None:
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if isinstance(k, ast.Constant) and k.value == key:
                return v
    return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


@dataclass
class Helper:
    """A function that forwards some of its parameters into a DomainError: which ones, in which role."""

    params: list[str]
    roles: dict[str, str]  # parameter name -> "message" | "field"


def _helpers(trees: dict[Path, ast.Module], classes: set[str]) -> dict[str, Helper]:
    helpers: dict[str, Helper] = {}
    for tree in trees.values():
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            names = [a.arg for a in fn.args.args]
            roles: dict[str, str] = {}
            for call in ast.walk(fn):
                if not (isinstance(call, ast.Call) and _name(call.func) in classes):
                    continue
                message = _message_arg(call, _name(call.func) or "")
                for node, role in (
                    (message, "message"),
                    (_dict_value(_kw(call, "params"), "field"), "field"),
                ):
                    if isinstance(node, ast.Name) and node.id in names:
                        roles[node.id] = role
                errs = _kw(call, "errors")
                for elt in errs.elts if isinstance(errs, ast.List) else []:
                    msg = _dict_value(elt, "message")
                    if isinstance(msg, ast.Name) and msg.id in names:
                        roles[msg.id] = "message"
                # params={"field": name, **params}: a local dict built from a parameter
                for assign in ast.walk(fn):
                    if isinstance(assign, ast.Assign) and isinstance(assign.value, ast.Dict):
                        value = _dict_value(assign.value, "field")
                        if isinstance(value, ast.Name) and value.id in names:
                            roles[value.id] = "field"
            if "detail" in names:  # e.g. a page helper that shows ``detail`` on the error page
                roles.setdefault("detail", "message")
            if roles:
                helpers[fn.name] = Helper(names, roles)
    return helpers


def _take(found: Found, node: ast.expr | None, role: str, where: str, constants: dict[str, str]) -> None:
    """Record a literal message or field name; flag messages built at run time."""
    if isinstance(node, ast.Call) and _name(node.func) == "N_" and node.args:  # a marked msgid
        node = node.args[0]
    if node is None:
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        (found.messages if role == "message" else found.fields)[node.value] = where
    elif isinstance(node, ast.Name) and node.id in constants:
        (found.messages if role == "message" else found.fields)[constants[node.id]] = where
    elif isinstance(node, (ast.JoinedStr, ast.BinOp)) and role == "message":
        found.untranslatable.append(f"{where}: {ast.unparse(node)[:80]}")


def collect() -> Found:
    trees = _trees()
    found = Found(error_classes=_error_classes(trees))
    helpers = _helpers(trees, found.error_classes)
    for path, tree in trees.items():
        constants = {
            t.id: n.value.value
            for n in tree.body
            if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Constant)
            and isinstance(n.value.value, str)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for cls in ast.walk(tree):  # class OutOfStock(Conflict): message = "..."
            if isinstance(cls, ast.ClassDef) and cls.name in found.error_classes:
                for stmt in cls.body:
                    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else None
                    target = target or getattr(stmt, "target", None)
                    value = getattr(stmt, "value", None)
                    empty = isinstance(value, ast.Constant) and value.value == ""
                    if isinstance(target, ast.Name) and target.id == "message" and not empty:
                        where = f"{path.relative_to(SERVICE.parent)}:{stmt.lineno}"
                        _take(found, getattr(stmt, "value", None), "message", where, constants)
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            callee = _name(call.func) or ""
            where = f"{path.relative_to(SERVICE.parent)}:{call.lineno}"
            if callee in found.error_classes:
                _take(found, _message_arg(call, callee), "message", where, constants)
                _take(found, _dict_value(_kw(call, "params"), "field"), "field", where, constants)
                errs = _kw(call, "errors")
                for elt in errs.elts if isinstance(errs, ast.List) else []:
                    _take(found, _dict_value(elt, "message"), "message", where, constants)
                    _take(found, _dict_value(elt, "field"), "field", where, constants)
            elif callee == "localise" and len(call.args) > 1:  # errors.localise(request, msgid, params)
                _take(found, call.args[1], "message", where, constants)
            elif callee == "page":  # page(request, "error.html", actor, detail="...")
                _take(found, _kw(call, "detail"), "message", where, constants)
            elif callee in helpers:
                helper = helpers[callee]
                bound = dict(zip(helper.params, call.args, strict=False))
                bound.update({kw.arg: kw.value for kw in call.keywords if kw.arg})
                for param, role in helper.roles.items():
                    _take(found, bound.get(param), role, where, constants)
    return found


def _constant_messages() -> dict[str, str]:
    """Messages kept as constants rather than passed to an error: validation, HTTP, scripts, headings."""
    out = {msgid: "errors.VALIDATION_MESSAGES" for _pattern, msgid in errors.VALIDATION_MESSAGES}
    out[errors.VALIDATION_FALLBACK] = "errors.VALIDATION_FALLBACK"
    out[errors.VALIDATION_FIELD] = "errors.VALIDATION_FIELD"
    out[errors.VALIDATION_JOIN] = "errors.VALIDATION_JOIN"
    out.update({m: "errors._HTTP_DETAILS" for m in errors._HTTP_DETAILS.values()})
    out.update({m: "render.JS_TEXT" for m in render.JS_TEXT.values()})
    out.update({m: "pages.STATUS_TITLES" for m in pages.STATUS_TITLES.values()})
    out.update({m: "activities_pages.LABELS" for m in activities_pages.LABELS["errors"].values()})
    out["Something went wrong on our side."] = "errors"
    out["No such page or resource."] = "errors"
    out["Some of the input cannot be stored; remove unusual characters."] = "errors"
    return out


def test_the_walk_finds_every_error_class_and_message() -> None:
    found = collect()
    assert {"DomainError", "InvalidInput", "Conflict", "NotFound", "CheckinError"} <= found.error_classes
    assert "ImportProblem" in found.error_classes  # a message carrier, found by its template field
    assert len(found.messages) > 180
    assert "Not enough points: %(available)s available, %(needed)s needed." in found.messages
    assert "%(field)s: 1-%(max)s characters" in found.messages  # through activities' _bad helper
    assert "A pickup code is 8 letters and digits." in found.messages  # through store's _invalid helper
    assert {"title", "pickup_code", "quantity"} <= set(found.fields)


def test_no_message_is_built_at_run_time() -> None:
    found = collect()
    assert not found.untranslatable, "use a msgid with %(name)s and params=: " + "; ".join(
        found.untranslatable
    )


def test_every_message_has_a_chinese_translation() -> None:
    zh = translator("zh_CN")
    wanted = {**collect().messages, **_constant_messages()}
    missing = {m: where for m, where in wanted.items() if m not in zh.messages}
    assert not missing, f"{len(missing)} messages lack a zh_CN translation: " + "\n".join(
        f"{where}: {m!r}" for m, where in sorted(missing.items(), key=lambda kv: kv[1])
    )


def test_translations_keep_only_known_placeholders() -> None:
    """A translation may drop a placeholder (a raw status) but never invent one: it would not format."""
    zh = translator("zh_CN")
    wanted = {**collect().messages, **_constant_messages()}
    wrong = {
        m: zh.messages[m]
        for m in wanted
        if m in zh.messages and not set(PLACEHOLDER.findall(zh.messages[m])) <= set(PLACEHOLDER.findall(m))
    }
    assert not wrong, wrong
    braces = {m: zh.messages[m] for m in render.JS_TEXT.values() if m in zh.messages}
    assert all(set(re.findall(r"\{\w+\}", t)) <= set(re.findall(r"\{\w+\}", m)) for m, t in braces.items())


def _input_fields() -> dict[str, str]:
    """Fields of the API's input Structs (``*In`` in schemas.py): validation errors name them."""
    out: dict[str, str] = {}
    for path in sorted(SERVICE.rglob("schemas.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith("In"):
                for stmt in node.body:
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                        out[stmt.target.id] = f"{path.relative_to(SERVICE.parent)}:{node.name}"
    return out


def test_every_field_name_shown_has_a_chinese_label() -> None:
    zh = translator("zh_CN")
    fields = {**_input_fields(), **collect().fields}
    assert len(fields) > 40
    missing = {f: where for f, where in fields.items() if f"field\x04{f}" not in zh.messages}
    assert not missing, f"{len(missing)} field names lack a msgctxt 'field' translation: {missing}"


def test_msgspec_messages_map_to_translated_sentences() -> None:
    """msgspec's own words (what a bad JSON body gets) each land on a translated msgid, not the fallback."""
    zh = translator("zh_CN")
    samples = {
        "Expected `str` of length <= 64": "最多 64 个字",
        "Expected `int` >= 1": "不能小于 1",
        "Expected `float` <= 90.0": "不能大于 90.0",
        "Expected `int`, got `str`": "须填数字",
        "Expected `str` matching regex '^[a-z]+$'": "格式不对",
        "Expected `datetime` with a timezone component": "须带时区",
        "Invalid enum value 'x'": "不在可选范围内",
        "Object missing required field `name`": "必填",
        "Expected `array` of length <= 4": "最多 4 项",
        "Invalid RFC3339 encoded datetime": "日期时间格式不对",
        "Expected `object`, got `array`": "格式不对",
    }
    for message, chinese in samples.items():
        found = next(
            (
                (m, msgid)
                for pattern, msgid in errors.VALIDATION_MESSAGES
                if (m := re.match(pattern, message))
            ),
            None,
        )
        assert found is not None, message
        match, msgid = found
        assert zh.gettext(msgid) % match.groupdict() == chinese, message
