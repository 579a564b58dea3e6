"""Every role lands on its work (issue 22 item 4): each role's home page links to the pages of its work,
and each of those links opens for that role; a region's official (who belongs to no community) sees the
region's headline figures instead of "not a member of any community"."""

from __future__ import annotations

import re
from typing import Any

from service.accounts.models import Member
from service.regions import service as regions
from tests.support.world import World

WORK = {
    "organizer": ["/activities/new", "/activities", "/teams", "/board/"],
    "reviewer": ["/claims"],
    "clerk": ["/store/counter", "/admin/store"],
    "partner": ["/partner"],
    "admin": ["/admin?", "/admin/proposals", "/reports?scope=community:"],
    "root": ["/admin", "/admin/regions", "/reports", "/admin/audit"],
}


def _links(html: str) -> list[str]:
    return re.findall(r'href="(/[^"#]*)"', html.replace("&amp;", "&"))


async def test_each_role_home_links_to_its_work_and_each_link_opens(client: Any, world: World) -> None:
    for role, wanted in WORK.items():
        home = await client.get("/", headers={**world.h[role], "Accept-Language": "zh-CN"})
        assert home.status_code == 200, role
        links = _links(home.text)
        for prefix in wanted:
            found = [u for u in links if u.startswith(prefix)]
            assert found, f"{role}: no link to {prefix} in {links}"
            for url in found:
                r = await client.get(url, headers=world.h[role], follow_redirects=False)
                assert r.status_code == 200, f"{role}: {url} -> {r.status_code}"
        assert "您还不是任何社区的成员" not in home.text
    alice = _links((await client.get("/", headers=world.h["alice"])).text)
    assert not [u for u in alice if u.startswith(("/admin", "/store/counter", "/partner", "/reports"))], alice


async def test_an_official_sees_the_regions_figures_not_an_empty_home(
    client: Any, world: World, maker: Any
) -> None:
    async with maker() as db:
        root = world.actor("root")
        city = await regions.create_region(db, root, "杭州市", "hz", "city")
        district = await regions.create_region(db, root, "西湖区", "xh", "district", city.id)
        street = await regions.create_region(db, root, "石油路街道", "sy", "street", district.id)
        await regions.set_community_region(db, root, world.cid, street.id)
        db.add(Member(phone="13600000009", name="街道干部"))
        await db.flush()
        official = await regions.add_official(db, root, street.id, "13600000009")
        await db.commit()
    from service.accounts import service as accounts
    from tests.support.world import SECRET

    async with maker() as db:
        member = await db.get(Member, official.id)
        assert member is not None
        token = accounts.issue_token(member, SECRET)
    home = await client.get("/", headers={"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"})
    assert home.status_code == 200
    assert "您还不是任何社区的成员" not in home.text
    assert 'data-testid="official-region"' in home.text and "石油路街道" in home.text
    assert "石油路街道 街道" not in home.text  # the level is a chip, not doubled into the name
    assert re.search(r'data-testid="region-communities">1<', home.text)
    assert re.search(r'data-testid="region-members">\d+<', home.text)
    reports = [u for u in _links(home.text) if u.startswith("/reports?scope=region:")]
    assert reports
    r = await client.get(reports[0], headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
