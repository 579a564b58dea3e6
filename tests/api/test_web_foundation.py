"""The web foundation: the admin community guard shared by pages, registries built once, the error page
of a page visit, and the app factory's wiring."""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path
from typing import Any

from service.accounts import service as accounts
from service.app import create_app
from service.config import Settings
from service.web import audit_pages, reports_pages, site

SERVICE = Path(__file__).resolve().parents[2] / "service"
EXPECTED_LINKS = (
    ("/admin", "Members"),
    ("/admin/proposals", "Proposals"),
    ("/admin/audit", "Audit log"),
    ("/admin/awards", "Awards"),
    ("/reports", "Reports"),
    ("/admin/rules", "Good-conduct rules"),
    ("/households", "Household links"),
    ("/admin/store", "Store"),
    ("/admin/member-requests", "Data requests"),
)
EXPECTED_PANELS = (
    "points/_home_panel.html",
    "activities/_home_panel.html",
    "rewards/_home_panel.html",
    "store/_home_panel.html",
)


# ---------------------------------------------------------------- registries


def test_the_site_is_assembled_in_one_place_in_a_fixed_order() -> None:
    built = site.build_site()
    assert built.admin_links == EXPECTED_LINKS
    assert tuple(t for t, _ in built.home_panels) == EXPECTED_PANELS
    assert site.build_site() == built  # building again adds nothing


def test_importing_a_page_module_again_does_not_duplicate_links(settings: Settings) -> None:
    importlib.reload(audit_pages)
    importlib.reload(reports_pages)
    assert site.build_site().admin_links == EXPECTED_LINKS
    first, second = create_app(settings), create_app(settings)
    assert first.state.site.admin_links == second.state.site.admin_links == EXPECTED_LINKS
    assert len({t for t, _ in first.state.site.home_panels}) == len(EXPECTED_PANELS)


def test_no_module_adds_to_another_modules_registry() -> None:
    """``HOME_PANELS.append`` from a domain's page module, run at import, is how panels got doubled."""
    offenders = []
    for path in sorted((SERVICE / "web").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"append", "insert", "extend"}
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"HOME_PANELS", "ADMIN_LINKS"}
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders


def test_the_app_module_does_nothing_at_import_but_define() -> None:
    tree = ast.parse((SERVICE / "app.py").read_text(encoding="utf-8"))
    stray = [
        ast.unparse(n)[:60]
        for n in tree.body
        if isinstance(n, ast.Expr) and not isinstance(n.value, ast.Constant)
    ]
    assert not stray


def test_the_reports_scope_parameter_uses_no_deprecated_form() -> None:
    from service.reports import controllers

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        importlib.reload(controllers)
        importlib.reload(reports_pages)
    assert not [w for w in caught if "Deprecated 'query' parameter" in str(w.message)]


# ---------------------------------------------------------------- the admin community guard


async def test_an_admin_page_for_a_community_where_the_caller_is_no_admin(client: Any, world: Any) -> None:
    for target in (str(world.cid), "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        page = await client.get(f"/admin?community={target}", headers=world.h["clerk"])
        assert page.status_code == 403, target
        assert 'data-testid="error-detail"' in page.text
        assert "data-logout" in page.text  # the error page still shows who is logged in
    api = await client.get(f"/api/v1/communities/{world.cid}/members", headers=world.h["alice"])
    assert api.status_code == 403 and api.json()["code"] == "forbidden"


async def test_the_guard_lets_through_the_roles_a_page_names(client: Any, world: Any) -> None:
    page = await client.get(f"/admin?community={world.cid}", headers=world.h["admin"])
    assert page.status_code == 200 and 'data-testid="members"' in page.text
    for href, _label in EXPECTED_LINKS:  # the links every module contributed, assembled once
        assert f'href="{href}?community={world.cid}"' in page.text


async def test_one_community_opens_directly_several_show_the_chooser(
    client: Any, world: Any, db: Any
) -> None:
    page = await client.get("/admin", headers=world.h["admin"])
    assert page.status_code == 200 and 'data-testid="members"' in page.text
    second = await accounts.create_community(db, world.root, "二号社区", "second")
    await accounts.add_member(db, world.root, second.id, world.members["admin"].phone, "x", role="admin")
    await db.commit()
    chooser = await client.get("/admin", headers=world.h["admin"])
    assert chooser.status_code == 200 and 'data-testid="members"' not in chooser.text
    assert f"?community={second.id}" in chooser.text and f"?community={world.cid}" in chooser.text
    none = await client.get("/admin", headers=world.h["alice"])
    assert none.status_code == 200 and "?community=" not in none.text


async def test_the_platform_admin_chooser_lists_every_community(client: Any, world: Any) -> None:
    page = await client.get("/admin", headers=world.h["root"])
    assert page.status_code == 200
    assert 'data-testid="communities"' in page.text and 'id="create-community"' in page.text


async def test_the_audit_page_of_every_community_or_one(client: Any, world: Any) -> None:
    everything = await client.get("/admin/audit", headers=world.h["root"])
    assert everything.status_code == 200
    one = await client.get(f"/admin/audit?community={world.cid}&cursor=damaged", headers=world.h["admin"])
    assert one.status_code == 200  # a damaged cursor starts again at the first page
    refused = await client.get(f"/admin/audit?community={world.cid}", headers=world.h["organizer"])
    assert refused.status_code == 403


async def test_region_and_report_pages_refuse_as_error_pages(client: Any, world: Any) -> None:
    regions = await client.get("/admin/regions", headers=world.h["admin"])
    assert regions.status_code == 403 and 'data-testid="error-detail"' in regions.text
    reports = await client.get("/reports", headers=world.h["alice"])
    assert reports.status_code == 403 and 'data-testid="error-detail"' in reports.text
    bad = await client.get("/reports?scope=nonsense", headers=world.h["admin"])
    assert bad.status_code == 422 and 'data-testid="error-detail"' in bad.text
    assert (await client.get("/admin/regions", headers=world.h["root"])).status_code == 200


async def test_join_and_register_pages_show_their_errors(client: Any, world: Any) -> None:
    join = await client.get("/join/AAAA-BBBB-CCCC")
    assert join.status_code == 422 and 'data-testid="error-detail"' in join.text
    register = await client.get("/register?next=/somewhere")
    assert register.status_code == 404 and 'data-testid="error-detail"' in register.text
