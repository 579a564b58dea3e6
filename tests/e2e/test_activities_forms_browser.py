"""Browser: an organizer creates a geofenced activity and a volunteer team through the pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import service as accounts
from tests.support.database import seeded
from tests.support.world import SECRET, add_person, new_world

pytestmark = pytest.mark.browser

LOCAL_INPUT = """(el, minutes) => {
  const d = new Date(Date.now() + minutes * 60000);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  el.value = d.toISOString().slice(0, 16);
}"""
"""Sets a datetime-local input to now + ``minutes`` in the browser's own time zone."""


async def _seed(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    organizer = await add_person(db, world, "王组织", "15800000002", "organizer")
    leader = await add_person(db, world, "李队长", "15700000002", "member")
    volunteer = await add_person(db, world, "赵志愿", "15900000002", "member")
    return {
        "cid": str(world.cid),
        "organizer_token": accounts.issue_token(organizer, SECRET),
        "volunteer_token": accounts.issue_token(volunteer, SECRET),
        "leader_id": str(leader.id),
        "volunteer_id": str(volunteer.id),
    }


@pytest.fixture
def scene(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _seed)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_organizer_creates_geofenced_activity(live_server: str, phone: Any, scene: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    phone.add_cookies([{"name": "jifen_token", "value": scene["organizer_token"], "url": live_server}])
    page = phone.new_page()
    page.goto(f"{live_server}/activities/new")
    form = page.locator("#activity-form")
    expect(page.locator("#use-location")).to_be_visible()
    form.locator("input[name=title]").fill("河边捡垃圾")
    form.locator("input[name=starts_at]").evaluate(LOCAL_INPUT, -10)
    form.locator("input[name=ends_at]").evaluate(LOCAL_INPUT, 120)
    form.locator("input[name=address]").fill("滨江公园东门")
    # "Use my location" fills the place from the phone's position and proposes a radius.
    phone.grant_permissions(["geolocation"], origin=live_server)
    phone.set_geolocation({"latitude": 31.230416, "longitude": 121.473701})
    page.locator("#use-location").click()
    expect(form.locator("input[name=lat]")).to_have_value("31.230416")
    expect(form.locator("input[name=lng]")).to_have_value("121.473701")
    expect(form.locator("input[name=radius_m]")).to_have_value("200")
    form.locator("input[name=radius_m]").fill("300")
    form.locator("input[name=points]").fill("8")
    page.screenshot(path="/tmp/jifen-activity-form.png", full_page=True)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server}/activities/*-*")
    aid = page.url.rstrip("/").rsplit("/", 1)[1]

    with httpx.Client(base_url=live_server, timeout=10) as http:
        activity = http.get(f"/api/v1/activities/{aid}", headers=_bearer(scene["organizer_token"])).json()
        assert (activity["lat"], activity["lng"], activity["radius_m"]) == (31.230416, 121.473701, 300)
        assert activity["points"] == 8 and activity["address"] == "滨江公园东门"
        kiosk = http.get(f"/api/v1/activities/{aid}/kiosk", headers=_bearer(scene["organizer_token"]))
        assert kiosk.status_code == 200, kiosk.text
        token = kiosk.json()["token"]
        refused = http.post(
            "/api/v1/checkins", json={"token": token}, headers=_bearer(scene["volunteer_token"])
        )
        assert refused.status_code in (400, 403, 422), refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "location_required"
        # Nothing was recorded: the activity still has nobody checked in, the volunteer no points.
        after = http.get(f"/api/v1/activities/{aid}", headers=_bearer(scene["organizer_token"])).json()
        assert after["checked_in_count"] == 0
        # Inside the area it works.
        near = http.post(
            "/api/v1/checkins",
            json={"token": token, "lat": 31.2305, "lng": 121.4738},
            headers=_bearer(scene["volunteer_token"]),
        )
        assert near.status_code in (200, 201), near.text
        assert near.json()["status"] == "checked_in"


def test_organizer_creates_team_and_adds_member(live_server: str, phone: Any, scene: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    phone.add_cookies([{"name": "jifen_token", "value": scene["organizer_token"], "url": live_server}])
    page = phone.new_page()
    page.goto(f"{live_server}/teams?community={scene['cid']}")
    form = page.locator("#team-form")
    form.locator("input[name=name]").fill("滨江环保服务队")
    form.locator("select[name=leader_id]").select_option(scene["leader_id"])
    form.locator("button[type=submit]").click()
    team = page.locator("section[data-team='滨江环保服务队']")
    expect(team.locator("[data-testid=team-leader]")).to_have_text("李队长")
    expect(team.locator("[data-testid=team-size]")).to_have_text("1")

    team.locator("select[name=member_id]").select_option(scene["volunteer_id"])
    team.locator("button[type=submit]").click()
    expect(team.locator("[data-testid=team-size]")).to_have_text("2")
    expect(team.locator("[data-testid=team-members]")).to_contain_text("赵志愿")
    expect(team.locator("[data-testid=team-attendances]")).to_have_text("0")
    page.screenshot(path="/tmp/jifen-teams.png", full_page=True)

    with httpx.Client(base_url=live_server, timeout=10) as http:
        teams = http.get(
            f"/api/v1/communities/{scene['cid']}/teams", headers=_bearer(scene["organizer_token"])
        ).json()
        assert [sorted(m["member_id"] for m in t["members"]) for t in teams] == [
            sorted([scene["leader_id"], scene["volunteer_id"]])
        ]

    # The new team is offered on the activity form.
    page.goto(f"{live_server}/activities/new?community={scene['cid']}")
    expect(page.locator("select[name=team_id] option", has_text="滨江环保服务队")).to_have_count(1)

    # The volunteer sees the team marked as theirs, without the organizer's forms.
    volunteer = phone.browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    volunteer.add_cookies([{"name": "jifen_token", "value": scene["volunteer_token"], "url": live_server}])
    mine = volunteer.new_page()
    mine.goto(f"{live_server}/teams?community={scene['cid']}")
    own = mine.locator("section[data-team='滨江环保服务队']")
    expect(own.locator(".chip").first).to_have_text("我的服务队")
    expect(mine.locator("#team-form")).to_have_count(0)
    expect(own.locator("select[name=member_id]")).to_have_count(0)
    mine.screenshot(path="/tmp/jifen-teams-member.png", full_page=True)
    volunteer.close()
