"""Validation errors name the field as the API names it and read as sentences, in English and zh-CN."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.support.world import World

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
METHODS = ("put", "post", "patch")


async def test_a_missing_body_is_named_as_the_body_in_a_sentence(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/teams"
    en = await client.post(url, headers=world.h["organizer"])
    assert en.status_code == 422 and en.json()["code"] == "invalid_input"
    assert en.json()["detail"] == "body is required."
    assert en.json()["errors"] == [{"field": "body", "message": "is required"}]
    zh = await client.post(url, headers={**world.h["organizer"], **ZH})
    assert zh.json()["detail"] == "提交内容：必填"


async def test_no_json_route_answers_a_missing_body_with_an_internal_name(client: Any, world: World) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    checked, wrong = 0, []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody") or {}
            if method not in METHODS or not body.get("required") or "application/json" not in body["content"]:
                continue
            url = re.sub(r"\{\w+\}", lambda _m: str(uuid.uuid4()), path)
            client.cookies.clear()
            r = await client.request(method.upper(), url, headers=world.h["root"])
            checked += 1
            detail = r.json().get("detail", "")
            if (
                r.status_code != 422
                or "'data'" in detail
                or "data:" in detail
                or detail != "body is required."
            ):
                wrong.append(f"{method} {path}: {r.status_code} {detail!r}")
    assert checked >= 40, checked
    assert not wrong, "\n".join(wrong)


async def test_a_query_parameter_is_named_as_the_api_names_it(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/household-links"
    en = await client.get(url, params={"scope": "x"}, headers=world.h["alice"])
    assert en.status_code == 422, en.text
    assert en.json()["errors"] == [{"field": "scope", "message": "must be one of mine, pending"}]
    assert en.json()["detail"] == "scope must be one of mine, pending."
    assert "which" not in en.text
    zh = await client.get(url, params={"scope": "x"}, headers={**world.h["alice"], **ZH})
    assert zh.json()["detail"] == "范围：须为以下之一：mine, pending"


async def test_english_messages_are_sentences_not_msgspec_words(client: Any, world: World) -> None:
    url = f"/api/v1/communities/{world.cid}/teams"
    cases = {
        '{"name": "x"}': "leader_id is required.",
        '{"name": "x", "leader_id": "nope"}': "leader_id is not a valid id.",
        '{"name": "", "leader_id": "' + str(uuid.uuid4()) + '"}': "name must have at least 1 characters.",
        '{"name": "x", "leader_id": "' + str(uuid.uuid4()) + '", "zzz": 1}': "zzz is not a known field.",
        "{": "The request is not valid JSON.",
    }
    for body, detail in cases.items():
        r = await client.post(
            url, content=body, headers={**world.h["organizer"], "Content-Type": "application/json"}
        )
        assert r.status_code in (400, 422), r.text
        assert r.json()["code"] == "invalid_input", r.text
        assert r.json()["detail"] == detail, r.text
        assert "`" not in r.text  # no msgspec words
    members = await client.get(
        f"/api/v1/communities/{world.cid}/members", params={"limit": "x"}, headers=world.h["admin"]
    )
    assert members.json()["detail"] == "limit must be a number."
    zh = await client.get(
        f"/api/v1/communities/{world.cid}/members", params={"limit": "x"}, headers={**world.h["admin"], **ZH}
    )
    assert zh.json()["detail"] == "每页条数：须填数字"
