"""Every id a request names that points at nothing is refused with a 4xx and a code, and writes nothing.

Generated from the app's route table: for each /api route, each id path parameter, id query parameter
and id body field is in turn replaced by an id of nothing while the others point at real resources of
the world's community (``tests.support.api_ids``). The platform admin, the community's admin and a
member each send every such request; every table's row count is compared before and after. A route
added later is covered without a line here (its body is built from its request type).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import msgspec
from msgspec import inspect as mi

from service import clock
from tests.support.api_ids import FIELD_IDS, PATH_IDS, a_missing_id, png, row_counts, seed_ids
from tests.support.world import World

CALLERS = ("root", "admin", "alice")
TEXT_FIELDS = {"phone": "13900000077", "password": "new-pass-123", "code": "code-x1", "month": "2026-01"}


@dataclass
class Call:
    method: str
    template: str
    path_params: list[str]
    query_ids: list[str]
    body: type[msgspec.Struct] | None
    raw: str | None = None
    """The content type of a raw upload (no JSON body)."""
    extra_query: dict[str, str] = field(default_factory=dict)


def api_calls(app: Any) -> list[Call]:
    """The /api routes of the app, with their id parameters and request types."""
    calls = []
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        params = re.findall(r"\{(\w+):uuid\}", route.path)
        template = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            signature = handler.parsed_fn_signature.parameters
            query_ids = [n for n, p in signature.items() if n.endswith("_id") and f"{{{n}:" not in route.path]
            data = signature.get("data")
            body = data.annotation if data is not None else None
            struct = body if isinstance(body, type) and issubclass(body, msgspec.Struct) else None
            raw = None
            if data is not None and struct is None and body is bytes:
                raw = "text/csv" if template.endswith("import") else "image/png"
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                calls.append(Call(method, template, params, query_ids, struct, raw))
    return calls


def _value(name: str, info: mi.Type, ids: dict[str, str]) -> Any:
    if isinstance(info, mi.UnionType):
        choices = [t for t in info.types if not isinstance(t, mi.NoneType)]
        return _value(name, choices[0], ids)
    if isinstance(info, mi.UUIDType):
        return ids[FIELD_IDS[name]] if name in FIELD_IDS else a_missing_id()
    if isinstance(info, mi.StrType):
        text = TEXT_FIELDS.get(name, "测试文字")
        return (text * 4)[: info.max_length or None] if info.min_length else text
    if isinstance(info, mi.IntType | mi.FloatType):
        low = info.ge if info.ge is not None else (info.gt + 1 if info.gt is not None else 1)
        return max(low, 1) if info.le is None or info.le >= 1 else low
    if isinstance(info, mi.BoolType):
        return False
    if isinstance(info, mi.LiteralType):
        return info.values[0]
    if isinstance(info, mi.DateTimeType):
        return (clock.now() + timedelta(hours=1)).isoformat()
    if isinstance(info, mi.DateType):
        return clock.now().date().isoformat()
    if isinstance(info, mi.ListType | mi.SetType):
        return []
    if isinstance(info, mi.DictType):
        return {}
    if isinstance(info, mi.StructType):
        return _body(info, ids)
    return None


def _body(info: mi.StructType, ids: dict[str, str]) -> dict[str, Any]:
    """A body of the request type: required fields filled in, every id field pointing at a real thing."""
    body = {}
    for f in info.fields:
        if f.required or f.name.endswith("_id"):
            body[f.name] = _value(f.name, f.type, ids)
    return body


def _id_fields(info: mi.StructType) -> list[str]:
    names = []
    for f in info.fields:
        inner = f.type.types if isinstance(f.type, mi.UnionType) else (f.type,)
        for t in inner:
            if isinstance(t, mi.UUIDType) or (
                isinstance(t, mi.ListType) and isinstance(t.item_type, mi.UUIDType)
            ):
                names.append(f.name)
    return names


def _url(call: Call, ids: dict[str, str], missing: str | None) -> str:
    parts = call.template.split("/")
    for i, part in enumerate(parts):
        if part.startswith("{"):
            name = part[1:-1]
            key = PATH_IDS.get((parts[i - 1], name))
            if name == missing or (key is None and name in call.path_params):
                parts[i] = a_missing_id()
            elif key is not None:
                parts[i] = ids[key]
            else:  # a text parameter (a role, a code): a value that names nothing
                parts[i] = "organizer" if name == "role" else "no-such-thing"
    return "/".join(parts)


def variants(call: Call, ids: dict[str, str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(what is missing, url, request kwargs) for each id of ``call`` in turn."""
    info = mi.type_info(call.body) if call.body is not None else None
    assert info is None or isinstance(info, mi.StructType)
    body = _body(info, ids) if info is not None else None
    query = {name: ids[FIELD_IDS[name]] for name in call.query_ids if name in FIELD_IDS}

    def kwargs(body_: Any, query_: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {"params": query_}
        if call.raw is not None:
            out["content"] = png() if call.raw == "image/png" else b"phone,name\n13900000088,Test\n"
            out["headers"] = {"content-type": call.raw}
        elif body_ is not None:
            out["json"] = body_
        return out

    for name in call.path_params:
        yield f"path {name}", _url(call, ids, name), kwargs(body, query)
    for name in call.query_ids:
        yield f"query {name}", _url(call, ids, None), kwargs(body, {**query, name: a_missing_id()})
    if info is not None and body is not None:
        for name in _id_fields(info):
            value: Any = [a_missing_id()] if isinstance(body.get(name), list) else a_missing_id()
            yield f"body {name}", _url(call, ids, None), kwargs({**body, name: value}, query)


async def test_every_missing_id_is_refused_with_a_code_and_writes_nothing(
    app: Any, client: Any, world: World, engine: Any
) -> None:
    ids = await seed_ids(client, world, engine)
    calls = api_calls(app)
    assert len(calls) >= 100
    failures: list[str] = []
    sent = 0
    for call in calls:
        for what, url, kwargs in variants(call, ids):
            for caller in CALLERS:
                before = await row_counts(engine)
                client.cookies.clear()
                headers = {**world.h[caller], **kwargs.get("headers", {})}
                r = await client.request(call.method, url, **{**kwargs, "headers": headers})
                sent += 1
                after = await row_counts(engine)
                label = f"{call.method} {call.template} ({what} missing) as {caller}"
                answer = r.json() if r.headers.get("content-type", "").endswith("json") else None
                code = answer.get("code") if isinstance(answer, dict) else None
                if not 400 <= r.status_code < 500 or not code:
                    failures.append(f"{label}: {r.status_code} {r.text[:160]}")
                changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
                if changed:
                    failures.append(f"{label}: wrote rows {changed}")
    assert sent > 200, sent
    assert not failures, "\n".join(failures)


def test_a_missing_id_is_not_a_real_one() -> None:
    assert a_missing_id() != a_missing_id()
    uuid.UUID(a_missing_id())


async def test_the_reported_cases_answer_community_not_found_and_write_nothing(
    client: Any, world: World, engine: Any
) -> None:
    """The cases the outside tester found: a platform admin was let through to a community that does not
    exist (500s on writes, 200 with defaults on reads), and a team's leader was checked after the team
    row was written."""
    nowhere = a_missing_id()
    before = await row_counts(engine)
    root, organizer = world.h["root"], world.h["organizer"]
    cases = [
        (
            "PUT",
            f"/api/v1/communities/{nowhere}/points-policy",
            root,
            {"expiry_mode": "never", "expiry_value": 0},
        ),
        (
            "POST",
            f"/api/v1/communities/{nowhere}/teams",
            root,
            {"name": "一队", "leader_id": str(world.members["bob"].id)},
        ),
        ("GET", f"/api/v1/communities/{nowhere}/activity-policy", root, None),
        ("GET", f"/api/v1/communities/{nowhere}/points-policy", root, None),
        ("GET", f"/api/v1/communities/{nowhere}/store-settings", root, None),
        ("GET", f"/api/v1/communities/{nowhere}/members", root, None),
        ("GET", f"/api/v1/me/card?community_id={nowhere}", root, None),
        ("POST", f"/api/v1/me/card/revoke?community_id={nowhere}", root, None),
        ("GET", f"/api/v1/communities/{nowhere}/members", world.h["alice"], None),
    ]
    for method, url, headers, body in cases:
        r = await client.request(method, url, headers=headers, json=body)
        assert r.status_code == 404 and r.json()["code"] == "community_not_found", (method, url, r.text)
    r = await client.post(
        f"/api/v1/communities/{world.cid}/teams",
        headers=organizer,
        json={"name": "一队", "leader_id": nowhere},
    )
    assert r.status_code == 404 and r.json()["code"] == "member_not_found", r.text
    assert await row_counts(engine) == before
