"""The input constraints of /schema/openapi.json are the ones the server applies, in both directions.

Generated from the document (an operation or field added later is checked without a line here): for
every body field and query parameter of every /api operation, each documented bound (maxLength,
minLength, pattern, enum, minimum, maximum) is probed from both sides while the rest of the request is
a valid one built from the document and the ids of real resources (``tests.support.api_ids``):

- just outside it (one character too many or too few, a value off the pattern or the list, one past the
  bound), the server answers 4xx problem+json with a code and writes nothing; where the same request
  with a value inside passed validation, the answer is 400/422;
- just inside it (exactly maxLength or minLength characters, each choice, the bound itself), and for a
  field the document leaves open (a string of any shape, an integer of any size), the server does not
  answer 400/422 where the valid request did not: it takes what the document allows.

A disagreement is fixed where the rule lives (the shared field types of ``service/kit/fields.py`` or the
domain's rules), never here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from service import clock
from tests.support.api_ids import FIELD_IDS, PATH_IDS, a_missing_id, row_counts, seed_ids
from tests.support.world import World

METHODS = ("get", "put", "post", "delete", "patch")
CALLERS = ("admin", "root", "organizer", "clerk", "reviewer", "partner", "alice", "")
"""Tried in turn for each operation: the first the baseline request does not refuse with 401/403."""
BOUNDS = ("maxLength", "minLength", "pattern", "enum", "minimum", "maximum")
SKIP_OPERATIONS = {("post", "/api/v1/me/password")}
"""Ends the caller's other logins: the probes after it would answer 401 (its one field, a new password,
is the type the sign-up, the member form and the admin's reset take, probed there)."""

# Realistic values of string fields the document leaves free (or bounds by a pattern), by field name;
# ``ids:<key>`` names a value of ``seed_ids``.
TEXT: dict[str, str] = {
    "phone": "13900000002",
    "password": "new-pass-123",
    "code": "probe-code",
    "month": "2026-01",
    "period": "2026-01",
    "scope": "all",
    "format": "json",
    "timezone": "Asia/Shanghai",
    "token": "no-such-token",
    "card_token": "ids:card_token",
    "pickup_code": "ids:pickup_code",
    "sms_code": "246810",
    "decision": "approve",
    "evidence": "结婚证",
}
BASE_EXTRA = {"evidence", "sms_code"}
"""Optional fields the valid request sends: a rule that asks for evidence, a sign-up that needs the code."""
BASE_EXTRA_AT = {("/api/v1/me/correction-request", "name")}
"""Optional fields one operation's valid request sends (a correction names what to correct)."""
NUMBER_AT: dict[tuple[str, str], int] = {
    ("/api/v1/rules/{rule_id}/adoptions", "attendance"): 30,
    ("/api/v1/rules/{rule_id}/adoptions", "votes_for"): 20,
    ("/api/v1/rules/{rule_id}/adoptions", "votes_against"): 2,
}
"""Numbers that must agree with each other (the votes of a meeting within its attendance, a majority)."""
ARRAY_AT: dict[tuple[str, str], Any] = {
    ("/api/v1/scans/sync", "scans"): lambda ids: [
        {
            "nonce": uuid.uuid4().hex,
            "activity_id": ids["activity"],
            "code": ids["card_token"],
            "scanned_at": (clock.now() - timedelta(minutes=1)).isoformat(),
        }
    ],
}
"""Lists a valid request cannot leave empty, by operation and field: a builder given the seeded ids."""
MINUTES = {"checked_in_at": -50, "checked_out_at": -10}
"""Times that must lie in the past (a hand-entered attendance); other times are in the next hours."""
TEXT_AT: dict[tuple[str, str], str] = {
    ("/api/v1/auth/activate", "code"): "ids:activation_code",
    ("/api/v1/vouchers/redeem", "code"): "ids:voucher_code",
    ("/api/v1/reports", "scope"): "community:{cid}",
    ("/api/v1/reports/export", "scope"): "community:{cid}",
    ("/api/v1/reports/hours", "scope"): "community:{cid}",
    ("/api/v1/reports/alliance", "scope"): "community:{cid}",
    ("/api/v1/reports/export", "format"): "csv",
    ("/api/v1/reports/hours", "format"): "csv",
    ("/api/v1/communities/{cid}/household-links", "scope"): "mine",
    ("/api/v1/me/correction-request", "name"): "王新名",
}


@dataclass(eq=False)
class Field:
    where: str
    """``query`` or ``body``"""
    name: str
    schema: dict[str, Any]
    required: bool


@dataclass
class Operation:
    method: str
    path: str
    fields: list[Field]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _flat(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """One schema with the constraints Litestar puts beside a ``oneOf`` (``X | None``) and the non-null
    branch's type, format and choices."""
    schema = _resolve(doc, schema)
    out = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
    for branch in schema.get("oneOf", schema.get("anyOf", [])):
        branch = _resolve(doc, branch)
        if branch.get("type") != "null":
            out = {**branch, **out}
    if isinstance(out.get("type"), list):
        out["type"] = next(t for t in out["type"] if t != "null")
    if "enum" in out:
        out["enum"] = [v for v in out["enum"] if v is not None]
    return out


def operations(doc: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in doc["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in item.items():
            if method not in METHODS or (method, path) in SKIP_OPERATIONS:
                continue
            fields = [
                Field("query", p["name"], _flat(doc, p["schema"]), bool(p.get("required")))
                for p in op.get("parameters", [])
                if p["in"] == "query"
            ]
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                schema = _resolve(doc, body["schema"])
                required = set(schema.get("required", []))
                for name, prop in schema.get("properties", {}).items():
                    fields.append(Field("body", name, _flat(doc, prop), name in required))
            if fields:
                found.append(Operation(method, path, fields))
    return found


def _matches(schema: dict[str, Any], value: str) -> bool:
    """What a JSON Schema validator says of a string (an ECMA pattern is searched, like ``re.search``)."""
    if len(value) > schema.get("maxLength", len(value)) or len(value) < schema.get("minLength", 0):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    return "pattern" not in schema or re.search(schema["pattern"], value) is not None


def _candidates(schema: dict[str, Any], usual: str | None) -> list[str]:
    low, high = schema.get("minLength", 1), schema.get("maxLength", 40)
    texts = [usual] if usual else []
    texts += ["a" * max(low, 1), "a" * high, "13800000099", "+86 138 0000 0099", "a-b_c", "2026-01"]
    texts += ["all", "mine", "csv", "测试文字"]
    if choices := re.fullmatch(r"\^\(([\w|]+)\)\$", schema.get("pattern", "")):  # ^(a|b)$: a choice
        texts += choices[1].split("|")
    return [t for t in texts if _matches(schema, t)]


def _usual(op: Operation, f: Field, ids: dict[str, str]) -> str | None:
    text = TEXT_AT.get((op.path, f.name), TEXT.get(f.name))
    if text is None:
        return None
    if text.startswith("ids:"):
        return ids[text[4:]]
    return text.format(cid=ids["cid"])


def valid(op: Operation, f: Field, ids: dict[str, str]) -> Any:
    """A value of ``f`` the document allows and the server takes, as a real request would send it."""
    s = f.schema
    kind = s.get("type")
    if s.get("format") == "uuid":
        return ids[FIELD_IDS[f.name]] if f.name in FIELD_IDS else a_missing_id()
    if s.get("format") == "date-time":
        minutes = MINUTES.get(f.name, 90 if "end" in f.name or "until" in f.name else 30)
        return (clock.now() + timedelta(minutes=minutes)).isoformat()
    if s.get("format") == "date":
        return clock.now().date().isoformat()
    if "enum" in s:
        return s["enum"][0]
    if kind == "string":
        found = _candidates(s, _usual(op, f, ids))
        assert found, f"{op.method} {op.path} {f.name}: no sample fits {s}"
        return found[0]
    if kind in ("integer", "number"):
        if (op.path, f.name) in NUMBER_AT:
            return NUMBER_AT[(op.path, f.name)]
        low = s.get("minimum", 1)
        return max(int(low), 1) if s.get("maximum", 1) >= 1 else int(low)
    if kind == "boolean":
        return False
    if kind == "array":
        return ARRAY_AT[(op.path, f.name)](ids) if (op.path, f.name) in ARRAY_AT else []
    return None


def _sent(f: Field, value: Any) -> Any:
    return str(value).lower() if f.where == "query" and isinstance(value, bool) else value


def probes(f: Field, base: Any) -> Iterator[tuple[str, bool, Any]]:
    """(what, allowed by the document, value) for each side of each bound of ``f``."""
    s, kind = f.schema, f.schema.get("type")
    if s.get("format") in ("uuid", "date-time", "date") or kind not in ("string", "integer", "number"):
        return
    if kind == "string":
        yield from _string_probes(s, base)
        return
    for bound, step in (("minimum", -1), ("maximum", 1)):
        if bound in s:
            edge = int(s[bound]) if kind == "integer" else s[bound]
            yield f"{bound} {edge}", True, edge
            yield f"{bound} {edge} {step:+}", False, edge + step
    if "minimum" not in s:
        yield "unbounded below", True, -1
    if "maximum" not in s:
        yield "unbounded above", True, 10**9


def _string_probes(s: dict[str, Any], base: str) -> Iterator[tuple[str, bool, Any]]:
    if "enum" in s:
        for choice in s["enum"]:
            yield f"choice {choice!r}", True, choice
        yield "off the list", False, "not-a-choice"
        return
    fill = base[:1] if base and _matches({"pattern": s.get("pattern", "")}, base[:1] * len(base)) else "a"
    high, low = s.get("maxLength"), s.get("minLength", 0)
    if high is not None:
        text = (base + fill * high)[:high] if "pattern" not in s else None
        if text is not None and _matches(s, text):
            yield f"maxLength {high}", True, text
        yield f"maxLength {high} + 1", False, base + fill * (high + 1 - len(base))
    if low > 0:
        yield f"minLength {low} - 1", False, base[: low - 1]
        if "pattern" not in s:
            yield f"minLength {low}", True, (base + fill * low)[:low]
            yield "blank", True, " " * max(low, 2)
    if "pattern" in s:
        off = [t for t in ("!", "x" * max(low, 1), "0" * high if high else "0", " " + base, "  ") if t]
        for text in off:
            if not _matches({"pattern": s["pattern"]}, text) and len(text) <= (high or len(text)):
                yield f"off the pattern {text!r}", False, text
                break
    else:
        free = "任意文字 any text"[: high or None][: max(high or 12, low)]
        if _matches(s, free):
            yield "any text", True, free


def _url(path: str, ids: dict[str, str]) -> str:
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("{"):
            key = PATH_IDS.get((parts[i - 1], part[1:-1]))
            parts[i] = ids[key] if key is not None else "organizer"
    return "/".join(parts)


def _problem(r: Any) -> str | None:
    if not r.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    code: str | None = r.json().get("code")
    return code


CROSS_FIELD = {("/api/v1/regions", "level"): "a region's level is the one below its parent's"}
"""Rules between fields whose refusal names no field, with the rule."""


def _about_another_field(r: Any, name: str) -> bool:
    """A refusal whose errors name other fields only: a rule between fields (``expiry_value`` must suit
    ``expiry_mode``), which a schema of one field cannot state."""
    named = {e.get("field") for e in r.json().get("errors") or []} if _problem(r) else set()
    return bool(named) and name not in named


async def test_the_documented_input_constraints_are_the_ones_the_server_applies(
    client: Any, world: World, engine: Any
) -> None:
    ids = await seed_ids(client, world, engine)
    r = await client.get("/schema/openapi.json")
    doc = r.json()
    failures: list[str] = []
    unreached: list[str] = []
    checked_ops, checked_fields, bounded, strict, sent = 0, 0, 0, 0, 0

    async def send(op: Operation, caller: str, values: dict[Field, Any]) -> Any:
        nonlocal sent
        sent += 1
        client.cookies.clear()
        query = {f.name: _sent(f, v) for f, v in values.items() if f.where == "query"}
        body = {f.name: v for f, v in values.items() if f.where == "body"}
        has_body = any(f.where == "body" for f in op.fields)
        return await client.request(
            op.method.upper(),
            _url(op.path, ids),
            params=query,
            headers=world.h.get(caller, {}),
            **({"json": body} if has_body else {}),
        )

    for op in operations(doc):
        base = {
            f: valid(op, f, ids)
            for f in op.fields
            if f.required or f.name in BASE_EXTRA or (op.path, f.name) in BASE_EXTRA_AT
        }
        label = f"{op.method.upper()} {op.path}"
        for caller in CALLERS:
            answer = await send(op, caller, base)
            if answer.status_code not in (401, 403):
                break
        if answer.status_code in (400, 422):  # a state (a used code, a pending attendance) or a rule
            unreached.append(f"{label}: {_problem(answer)}")
            if _problem(answer) == "invalid_input":
                failures.append(f"{label}: the document's valid request is refused: {answer.text[:200]}")
        checked_ops += 1
        for f in op.fields:
            inside = base.get(f, valid(op, f, ids))
            fprobes = list(probes(f, inside))
            if fprobes:
                checked_fields += 1
                bounded += any(key in f.schema for key in BOUNDS)
            for what, allowed, value in fprobes:
                reference = await send(op, caller, {**base, f: inside})
                before = await row_counts(engine)
                r = await send(op, caller, {**base, f: value})
                after = await row_counts(engine)
                where = f"{label} as {caller or 'anonymous'}: {f.where} {f.name} {what} ({value!r:.40})"
                if r.status_code in (400, 422) and (
                    _about_another_field(r, f.name) or (op.path, f.name) in CROSS_FIELD
                ):
                    continue
                if allowed and r.status_code in (400, 422) and reference.status_code not in (400, 422):
                    failures.append(f"{where}: the document allows it, the server refuses: {r.text[:200]}")
                if allowed:
                    continue
                if not 400 <= r.status_code < 500 or _problem(r) is None:
                    failures.append(f"{where}: the document refuses it, the server answers {r.status_code}")
                elif reference.status_code < 300:
                    strict += 1
                    if r.status_code not in (400, 422):
                        failures.append(f"{where}: {r.status_code} {_problem(r)}, not a validation answer")
                changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
                if changed:
                    failures.append(f"{where}: refused, but wrote rows {changed}")
    print("refused whatever the field:", *unreached, sep="\n  ")
    print(
        f"{checked_ops} operations, {checked_fields} fields ({bounded} with documented bounds), "
        f"{sent} requests, {strict} refusals where the same request inside the bound passed"
    )
    assert checked_ops >= 70 and checked_fields >= 160 and bounded >= 120, (checked_ops, checked_fields)
    assert strict >= 150, f"only {strict} refusals checked against a request that passed"
    assert len(unreached) <= 3, unreached
    assert not failures, f"{len(failures)} disagreements:\n" + "\n".join(failures)
