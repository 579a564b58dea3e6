"""``GET /metrics`` for the operators, request ids, JSON log lines.

The live test runs ``jifen serve`` with two granian workers (``prometheus_client``'s multiprocess mode),
drives requests through both, and parses the scrape with the client library's own parser: the counts
are every worker's, added up.
"""

from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.config import Settings
from service.kit.observe import REQUEST_ID, JsonFormatter
from service.problems import problem
from tests.support.world import METRICS_TOKEN, World

BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def test_metrics_answer_only_the_operators_token(clean: Any, settings: Settings) -> None:
    app = create_app(replace(settings, metrics_token=METRICS_TOKEN))
    async with AsyncTestClient(app=app, base_url="http://testserver") as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-of-some-length"},
            {"Authorization": "Basic x"},
        ):
            r = await client.get("/metrics", headers=headers)
            assert r.status_code == 401, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "metrics_token_required"
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "jifen_" not in r.text
        r = await client.get("/metrics", headers={**BEARER, "Accept-Language": "zh-CN"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        names = {family.name for family in text_string_to_metric_families(r.text)}
        assert {"jifen_http_requests", "jifen_points_issued", "jifen_batch_size"} <= names


async def test_without_a_configured_token_there_are_no_metrics(client: Any) -> None:
    r = await client.get("/metrics", headers=BEARER)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


async def test_metrics_are_not_in_the_api_document(client: Any) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert "/metrics" not in doc["paths"]


async def test_every_answer_carries_its_request_id(client: Any, world: World) -> None:
    ok = await client.get("/healthz")
    missing = await client.get(f"/api/v1/communities/{uuid.uuid4()}/members", headers=world.h["admin"])
    bad = await client.get(
        f"/api/v1/communities/{world.cid}/members", params={"limit": "lots"}, headers=world.h["admin"]
    )
    ids = [r.headers["x-request-id"] for r in (ok, missing, bad)]
    assert missing.status_code in {403, 404} and bad.status_code == 422
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    # A proxy's id is kept (both logs then share it); a malformed one is replaced.
    kept = await client.get("/healthz", headers={"X-Request-ID": "edge-7f3a9c21"})
    assert kept.headers["x-request-id"] == "edge-7f3a9c21"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert replaced.headers["x-request-id"] != "<script>"


async def test_an_error_page_shows_the_request_id(client: Any, world: World) -> None:
    client.cookies.set("jifen_token", world.h["alice"]["Authorization"].split()[1])
    r = await client.get(f"/activities/{uuid.uuid4()}", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert f"<code>{r.headers['x-request-id']}</code>" in r.text
    assert "请求编号" in r.text


def test_a_fault_names_its_request_id_and_other_problems_do_not() -> None:
    token = REQUEST_ID.set("abc123def456")
    try:
        fault = problem(500, "internal_error", "x").content
        refusal = problem(403, "forbidden", "x").content
    finally:
        REQUEST_ID.reset(token)
    assert fault["request_id"] == "abc123def456"
    assert "request_id" not in refusal


def test_log_lines_are_json_with_the_request_id() -> None:
    record = logging.LogRecord("jifen", logging.ERROR, __file__, 1, "job %s failed", ("x",), None)
    token = REQUEST_ID.set("req-0001")
    try:
        line = JsonFormatter().format(record)
    finally:
        REQUEST_ID.reset(token)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "job x failed" and parsed["level"] == "ERROR"
    assert parsed["request_id"] == "req-0001" and parsed["logger"] == "jifen"


def test_a_scrape_adds_up_every_workers_requests_and_points(
    live_workers: tuple[str, Path], world: World
) -> None:
    base, folder = live_workers
    readyz, awards_each = 120, 5
    with httpx.Client(base_url=base, timeout=30) as http:
        before = _samples(http.get("/metrics", headers=BEARER).text)

        def ready(_: int) -> int:
            with httpx.Client(base_url=base, timeout=30) as one:  # a connection each: both workers take some
                return one.get("/readyz").status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(ready, range(readyz)))
        assert statuses == [200] * readyz
        url = f"/api/v1/communities/{world.cid}/awards"
        posted = 0
        for i in range(awards_each):
            r = http.post(
                url,
                headers=world.h["admin"],
                json={"member_id": str(world.members["alice"].id), "points": 10 + i, "reason": "巡逻"},
            )
            assert r.status_code in {200, 201}, r.text
            assert r.json()["status"] == "posted"
            posted += 10 + i
        assert http.get("/metrics").status_code == 401
        after = _samples(http.get("/metrics", headers=BEARER).text)

    def grew(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    assert grew("jifen_http_requests_total", route="/readyz", method="GET", status="200") == readyz
    assert grew("jifen_http_request_duration_seconds_count", route="/readyz") == readyz
    assert grew("jifen_http_requests_total", route="/api/v1/communities/{cid}/awards") == awards_each
    assert grew("jifen_points_issued_total", community=str(world.cid)) == posted
    assert _total(after, "jifen_db_pool_size") >= 2  # both workers' pools
    # Two workers wrote their own files, and the scrape read them all.
    assert len({p.name.rsplit("_", 1)[-1] for p in folder.glob("counter_*.db")}) >= 2
