"""Browser: the offline scanner (issue 23). An organizer opens /scan while online (the service worker keeps
the page and its files, the activity's kit goes into IndexedDB), the phone loses its network, member
cards and personal codes are scanned (real QR images decoded by the vendored jsQR), the network comes
back and the queue is uploaded exactly once. A phone that cannot reach the server shows Jifen's own
offline page, in Chinese."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qrcode
import qrcode.constants
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.activities import codes
from service.activities import service as svc
from service.activities.models import Attendance, OfflineScan
from service.db import create_engine, create_session_maker
from service.points import service as points
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, logged_in
from tests.support.database import in_thread, seeded
from tests.support.world import World, add_person, new_world

pytestmark = pytest.mark.browser
T = TypeVar("T")

WORKER_READY = """async () => {
  const reg = await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) return false;
  const pages = await caches.open("jifen-pages");
  return Boolean(reg.active && await pages.match("/offline") && await pages.match(location.href));
}"""
"""The worker controls the page, keeps the offline page and has stored this page for offline use."""


async def _small_world(db: AsyncSession) -> dict[str, Any]:
    world = await new_world(db)
    await add_person(db, world, "organizer", "13800000002", "organizer")
    now = clock.now()
    draft = svc.ActivityDraft(
        "村口广场义诊", now - timedelta(minutes=5), now + timedelta(hours=3), "per_attendance", 10
    )
    activity = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
    return {"world": world, "aid": str(activity.id)}


@pytest.fixture
def small(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _small_world)


def _open_scanner(phone: Any, base: str, world: World) -> Any:
    from playwright.sync_api import expect

    page = logged_in(phone, base, world, "organizer")
    page.goto(f"{base}/scan?community={world.cid}")
    expect(page.locator("[data-testid=scanner]")).to_have_attribute("data-ready", "1")
    page.wait_for_function(WORKER_READY, polling=200, timeout=20_000)
    return page


def test_a_phone_that_cannot_reach_the_server_shows_jifens_offline_page(
    live_server: str, browser: Any, phone: Any, small: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = _open_scanner(phone, live_server, small["world"])
    # Chromium itself says the scanner can be installed (manifest, icons, a worker that answers offline).
    # (Playwright's contexts are incognito windows, the one thing an installed app cannot be.)
    installable = phone.new_cdp_session(page).send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [e for e in installable if e["errorId"] != "in-incognito"] == [], installable
    page.goto(f"{live_server}/me/code")
    code = page.locator("[data-testid=personal-code]").get_attribute("data-code")
    page.wait_for_function(WORKER_READY, polling=200, timeout=20_000)
    phone.set_offline(True)
    # The personal code page, once opened, opens again with no network (the same code).
    page.goto(f"{live_server}/me/code")
    expect(page.locator("[data-testid=personal-code]")).to_have_attribute("data-code", code or "?")
    page.screenshot(path="/tmp/jifen-me-code-offline.png", full_page=True)
    # Any address that cannot load: Jifen's own page in Chinese, not the browser's error page.
    page.goto(f"{live_server}/activities")
    offline = page.locator("[data-testid=offline-page]")
    expect(offline.locator("h1")).to_have_text("暂时无法连接积分平台")
    expect(offline).to_contain_text("个人码")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.screenshot(path="/tmp/jifen-offline-page.png", full_page=True)
    # A check-in QR opened with no network (the "browser's own error page") too.
    page.goto(f"{live_server}/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    expect(offline.locator("h1")).to_have_text("暂时无法连接积分平台")
    # The scanner itself opens from the phone, and says it is offline.
    page.goto(f"{live_server}/scan?community={small['world'].cid}")
    expect(page.locator("[data-testid=scanner]")).to_have_attribute("data-ready", "1")
    expect(page.locator("[data-testid=net]")).to_contain_text("离线模式")
    expect(page.locator("[data-testid=kit-status]")).to_contain_text("下载")
    page.screenshot(path="/tmp/jifen-scanner-offline.png", full_page=True)
    phone.set_offline(False)
    page.goto(f"{live_server}/activities")
    expect(page.locator("[data-testid=offline-page]")).to_have_count(0)


# ---------------------------------------------------------------- 20 cards + 20 personal codes, offline

CARDS = 20
PERSONAL = 20


async def _village(db: AsyncSession) -> dict[str, Any]:
    """An activity under way, 20 members with printed cards, 20 with personal codes on their phones and
    one whose card will be replaced after the scanner fetched its kit (all codes signed by the server)."""
    world = await new_world(db)
    await add_person(db, world, "organizer", "13800000002", "organizer")
    assert world.root is not None
    now = clock.now()
    draft = svc.ActivityDraft(
        "村口广场义诊", now - timedelta(minutes=5), now + timedelta(hours=3), "per_attendance", 10
    )
    activity = await svc.create_activity(db, world.actor("organizer"), world.cid, draft)
    people: list[dict[str, Any]] = []
    for i in range(CARDS + PERSONAL + 1):
        name = f"村民{i:02d}"
        member = await accounts.add_member(db, world.root, world.cid, f"1590000{i:04d}", name)
        world.members[name] = member
        if i < CARDS or i == CARDS + PERSONAL:
            card = await svc.member_card(db, world.actor(name), world.cid)
            code = await codes.card_code(db, "", card)
            printed = f"https://jifen.example.cn/m/{code}"  # what a printed card's QR holds
        else:
            code, _version = await codes.personal_code(db, "", member.id)
            printed = code  # the personal code's QR holds the bare code
        people.append({"name": name, "id": member.id, "code": code, "qr": printed})
    return {"world": world, "aid": str(activity.id), "people": people}


@pytest.fixture
def village(database_url: str) -> dict[str, Any]:
    return seeded(database_url, _village)


def _in_db(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in a session of its own and commit (the browser's server is another process)."""

    async def run() -> T:
        engine = create_engine(database_url)
        try:
            async with create_session_maker(engine)() as db:
                result = await work(db)
                await db.commit()
                return result
        finally:
            await engine.dispose()

    result: T = in_thread(asyncio.run, run())
    return result


def _qr_files(folder: Path, people: list[dict[str, Any]]) -> list[str]:
    """Each code as a PNG, as a phone photo of a card or of a screen would show it."""
    paths = []
    for i, person in enumerate(people):
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=4)
        qr.add_data(person["qr"])
        path = folder / f"code-{i:02d}.png"
        qr.make_image().save(path)
        paths.append(str(path))
    return paths


def test_forty_offline_scans_sync_exactly_once(
    live_server: str, browser: Any, phone: Any, village: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    world: World = village["world"]
    aid = uuid.UUID(village["aid"])
    people = village["people"]
    replaced = people[-1]
    page = _open_scanner(phone, live_server, world)
    kit = page.locator("[data-testid=kit-status]")
    expect(kit).to_contain_text(f"本机已有 {CARDS + PERSONAL + 2} 人的名单")  # and the organizer

    # The last member's card is replaced after the kit was fetched: the phone cannot know yet.
    async def replace_card(db: AsyncSession) -> None:
        await svc.revoke_card(db, world.actor(replaced["name"]), world.cid)

    _in_db(database_url, replace_card)

    phone.set_offline(True)
    # A forged code (one character of the signature changed) is refused on the phone, not queued.
    genuine = people[0]["qr"]
    flipped = "A" if genuine[-3] != "A" else "B"
    forged = dict(people[0], qr=genuine[:-3] + flipped + genuine[-2:])
    page.set_input_files("[data-testid=photo]", _qr_files(tmp_path, [forged]))
    result = page.locator("[data-testid=last-result]")
    expect(result).to_have_text("二维码签名无效，可能是伪造的。")
    expect(page.locator("[data-testid=net]")).to_contain_text("离线模式")

    page.set_input_files("[data-testid=photo]", _qr_files(tmp_path, people))
    queue = page.locator("[data-testid=queue-count]")
    expect(queue).to_have_text(str(CARDS + PERSONAL + 1), timeout=30_000)
    expect(page.locator("[data-testid=scans] li[data-status=queued]")).to_have_count(CARDS + PERSONAL + 1)
    expect(page.locator("[data-testid=last-sync]")).to_have_text("尚未上传")
    page.screenshot(path="/tmp/jifen-scanner-queued.png", full_page=True)
    stored = page.evaluate("""async () => (await idb.openDB("jifen-scanner")).getAll("scans")""")
    assert len({s["nonce"] for s in stored}) == CARDS + PERSONAL + 1
    assert all(s["device_id"].startswith("scanner-") and s["scanned_at"].endswith("Z") for s in stored)

    # The network comes back: the scanner notices by itself and uploads the queue.
    phone.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(queue).to_have_text("0", timeout=20_000)
    scans = page.locator("[data-testid=scans] li")
    expect(page.locator("[data-testid=scans] li[data-status=applied]")).to_have_count(CARDS + PERSONAL)
    refused = page.locator("[data-testid=scans] li[data-status=refused]")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text(replaced["name"][:1])
    expect(refused.locator(".why")).to_have_text(re.compile(r"[\u4e00-\u9fff]"))  # why, in Chinese
    expect(page.locator("[data-testid=last-sync]")).not_to_have_text("尚未上传")
    expect(page.locator("[data-testid=net]")).to_have_text("在线")
    page.screenshot(path="/tmp/jifen-scanner-synced.png", full_page=True)

    def attendances() -> dict[uuid.UUID, str]:
        async def read(db: AsyncSession) -> dict[uuid.UUID, str]:
            rows = await db.execute(
                select(Attendance.member_id, Attendance.status).where(Attendance.activity_id == aid)
            )
            return {m: s for m, s in rows}

        return _in_db(database_url, read)

    first = attendances()
    assert set(first) == {p["id"] for p in people[:-1]}, "20 cards + 20 personal codes, not the replaced card"

    # The same queue again (an upload whose answer was lost): every scan is a duplicate, nothing changes.
    page.locator("[data-testid=resync]").click()
    expect(page.locator("[data-testid=scans] li[data-status=duplicate]")).to_have_count(
        CARDS + PERSONAL, timeout=20_000
    )
    expect(refused).to_have_count(1)  # the refusal and its reason stay on screen
    page.screenshot(path="/tmp/jifen-scanner-resynced.png", full_page=True)
    assert attendances() == first
    assert scans.count() == CARDS + PERSONAL + 1

    # Closing pays each of the 40 once; another upload of the same scans pays nobody again.
    async def close_and_balances(db: AsyncSession) -> dict[str, int]:
        await svc.close_activity(db, world.actor("organizer"), aid)
        return {p["name"]: (await points.balance(db, world.cid, p["id"])).available for p in people}

    paid = _in_db(database_url, close_and_balances)
    assert paid == {p["name"]: 10 for p in people[:-1]} | {replaced["name"]: 0}
    page.locator("[data-testid=resync]").click()
    expect(page.locator("[data-testid=scans] li[data-status=duplicate]")).to_have_count(CARDS + PERSONAL)

    async def balances_and_verify(db: AsyncSession) -> tuple[dict[str, int], bool]:
        report = await points.verify(db, world.cid)
        return {
            p["name"]: (await points.balance(db, world.cid, p["id"])).available for p in people
        }, report.ok

    after, clean = _in_db(database_url, balances_and_verify)
    assert after == paid and clean


def _y4m(path: Path, text: str) -> None:
    """A short video of one QR code (YUV4MPEG2, 4:2:0), for Chromium's fake camera."""
    from PIL import Image

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=4)
    qr.add_data(text)
    code = qr.make_image().convert("L")
    width, height = 640, 480
    frame = Image.new("L", (width, height), 255)
    frame.paste(code, ((width - code.width) // 2, (height - code.height) // 2))
    luma = frame.tobytes()
    chroma = bytes([128]) * (width // 2 * height // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            out.write(b"FRAME\n" + luma + chroma + chroma)


def test_the_phone_camera_reads_a_member_card_offline(
    live_server: str, village: dict[str, Any], tmp_path: Path
) -> None:
    """getUserMedia with Chromium's fake camera playing a video of a printed card: decoded by jsQR from
    the camera frames, checked on the phone, queued while offline, applied once the network is back."""
    from playwright.sync_api import expect, sync_playwright

    world: World = village["world"]
    person = village["people"][0]
    video = tmp_path / "card.y4m"
    _y4m(video, person["qr"])
    camera = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *camera])
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
        context.grant_permissions(["camera"], origin=live_server)
        context.set_default_timeout(15_000)
        page = _open_scanner(context, live_server, world)
        expect(page.locator("[data-testid=kit-status]")).to_contain_text("人的名单")
        context.set_offline(True)
        page.locator("[data-testid=camera-start]").click()
        expect(page.locator("[data-testid=last-result]")).to_contain_text("：已记录")  # the masked name
        expect(page.locator("[data-testid=queue-count]")).to_have_text("1")  # read again and again: once
        page.wait_for_timeout(1500)  # the camera keeps reading the same card: still one scan
        queued = page.evaluate("""async () => (await idb.openDB("jifen-scanner")).getAll("scans")""")
        assert [s["code"] for s in queued] == [person["code"]]
        page.screenshot(path="/tmp/jifen-scanner-camera.png")
        context.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        expect(page.locator("[data-testid=scans] li[data-status=applied]")).to_have_count(1)
        expect(page.locator("[data-testid=queue-count]")).to_have_text("0")
        browser.close()


def test_two_phones_that_scanned_one_member_offline_give_one_attendance_and_a_conflict(
    live_server: str, browser: Any, village: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    world: World = village["world"]
    person = village["people"][CARDS]  # a personal code, shown to two organizers' phones in turn
    phones = []
    for n in range(2):
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
        context.set_default_timeout(15_000)
        page = _open_scanner(context, live_server, world)
        expect(page.locator("[data-testid=kit-status]")).to_contain_text("人的名单")
        context.set_offline(True)
        folder = tmp_path / f"phone{n}"
        folder.mkdir()
        page.set_input_files("[data-testid=photo]", _qr_files(folder, [person]))
        expect(page.locator("[data-testid=queue-count]")).to_have_text("1")
        phones.append((context, page))
    devices = {p.evaluate("window.jifenScanner.state.device") for _, p in phones}
    assert len(devices) == 2, "each installed scanner has its own device id"
    for context, page in phones:  # the first phone's network returns first
        context.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        expect(page.locator("[data-testid=queue-count]")).to_have_text("0")
    first, second = phones[0][1], phones[1][1]
    expect(first.locator("[data-testid=scans] li[data-status=applied]")).to_have_count(1)
    conflict = second.locator("[data-testid=scans] li[data-status=refused]")
    expect(conflict.locator(".why")).to_have_text("已在另一部手机上签到，请组织者在活动页面处理。")
    second.screenshot(path="/tmp/jifen-scanner-conflict.png", full_page=True)

    async def read(db: AsyncSession) -> tuple[int, list[str]]:
        aid = uuid.UUID(village["aid"])
        attended = await db.scalar(
            select(func.count()).select_from(Attendance).where(Attendance.activity_id == aid)
        )
        flagged = await db.scalars(select(OfflineScan.status).where(OfflineScan.activity_id == aid))
        return int(attended or 0), sorted(flagged)

    assert _in_db(database_url, read) == (1, ["applied", "conflict"])
    # The organizer sees the conflict on the activity's page, to resolve.
    second.goto(f"{live_server}/activities/{village['aid']}")
    expect(second.locator("[data-testid=offline-scans] li[data-offline-status=conflict]")).to_have_count(1)
    for context, _page in phones:
        context.close()


def test_a_slow_server_switches_the_scanner_to_offline_by_itself(
    live_server: str, browser: Any, phone: Any, village: dict[str, Any], tmp_path: Path
) -> None:
    """Online, but the upload hangs (one bar in a village square): after about 3 s the scanner says it
    is offline and keeps the scan; when the server answers again the queue goes up by itself."""
    from playwright.sync_api import expect

    page = _open_scanner(phone, live_server, village["world"])
    expect(page.locator("[data-testid=net]")).to_have_text("在线")
    held: list[tuple[Any, float]] = []  # never answered: "slow"; timed from when the upload went out
    page.route("**/api/v1/scans/sync", lambda route: held.append((route, time.monotonic())))
    page.set_input_files("[data-testid=photo]", _qr_files(tmp_path, [village["people"][0]]))
    expect(page.locator("[data-testid=net]")).to_contain_text("离线模式", timeout=15_000)
    assert len(held) == 1
    waited = time.monotonic() - held[0][1]
    assert 2.5 < waited < 8, f"gives up after about 3 s, not at once, not never: {waited:.1f} s"
    expect(page.locator("[data-testid=queue-count]")).to_have_text("1")
    page.unroute("**/api/v1/scans/sync")
    # The button (a no-op if the scanner's own probe, every 15 s, already sent the queue).
    page.evaluate("document.querySelector('[data-testid=sync]').click()")
    expect(page.locator("[data-testid=net]")).to_have_text("在线", timeout=20_000)
    expect(page.locator("[data-testid=queue-count]")).to_have_text("0")
    expect(page.locator("[data-testid=scans] li[data-status=applied]")).to_have_count(1)


def test_a_phone_whose_clock_is_wrong_is_warned_before_it_scans(
    live_server: str, browser: Any, phone: Any, small: dict[str, Any]
) -> None:
    """The server refuses scans whose time is off by more than its bound (clock_drift): the scanner
    compares the phone's clock with the kit's server time and says so while it can still be fixed."""
    from datetime import datetime

    from playwright.sync_api import expect

    page = _open_scanner(phone, live_server, small["world"])
    expect(page.locator("[data-testid=kit-status]")).to_contain_text("人的名单")
    expect(page.locator("[data-testid=clock-warning]")).to_be_hidden()
    page.clock.install(time=datetime.now() + timedelta(minutes=10))
    page.reload()
    expect(page.locator("[data-testid=kit-status]")).to_contain_text("人的名单")
    warning = page.locator("[data-testid=clock-warning]")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("手机时间设为自动")


NO_WEBCRYPTO_ED25519 = """(() => {
  const importKey = crypto.subtle.importKey.bind(crypto.subtle);
  crypto.subtle.importKey = (format, key, algorithm, ...rest) =>
    (algorithm && (algorithm === "Ed25519" || algorithm.name === "Ed25519"))
      ? Promise.reject(new DOMException("Algorithm: Unrecognized name", "NotSupportedError"))
      : importKey(format, key, algorithm, ...rest);
})();"""
"""A browser whose WebCrypto has no Ed25519 (older Android WebViews)."""


def test_without_webcrypto_ed25519_the_vendored_library_verifies_offline(
    live_server: str, browser: Any, phone: Any, village: dict[str, Any], tmp_path: Path
) -> None:
    """@noble/ed25519, loaded from the service worker's cache with no network, accepts a genuine code
    and refuses a forged one."""
    from playwright.sync_api import expect

    phone.add_init_script(NO_WEBCRYPTO_ED25519)
    page = _open_scanner(phone, live_server, village["world"])
    expect(page.locator("[data-testid=kit-status]")).to_contain_text("人的名单")
    phone.set_offline(True)
    page.reload()  # the scanner starts from the phone, and has not loaded the library yet
    expect(page.locator("[data-testid=scanner]")).to_have_attribute("data-ready", "1")
    genuine = village["people"][CARDS]
    text = genuine["qr"]
    forged = dict(genuine, qr=text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:])
    result = page.locator("[data-testid=last-result]")
    page.set_input_files("[data-testid=photo]", _qr_files(tmp_path, [forged]))
    expect(result).to_have_text("二维码签名无效，可能是伪造的。")
    page.set_input_files("[data-testid=photo]", _qr_files(tmp_path, [genuine]))
    expect(result).to_contain_text("：已记录")
    expect(page.locator("[data-testid=queue-count]")).to_have_text("1")
    loaded = page.evaluate(
        "performance.getEntriesByType('resource').some(e => e.name.includes('noble-ed25519.js'))"
    )
    assert loaded, "verified by the vendored library, not by WebCrypto"


def test_after_the_activity_the_scanner_refuses_at_once_and_forgets_the_roster_a_week_later(
    live_server: str, browser: Any, phone: Any, village: dict[str, Any], tmp_path: Path
) -> None:
    """A scan after the poster's grace would be refused at sync (outside_window): the scanner says so at
    once and queues nothing; a week after the activity's scans end the kit (its roster) leaves the phone."""
    from datetime import datetime

    from playwright.sync_api import expect

    page = _open_scanner(phone, live_server, village["world"])
    expect(page.locator("[data-testid=kit-status]")).to_contain_text("人的名单")
    phone.set_offline(True)  # the kit on the phone is what decides; nothing fetched again
    page.clock.install(time=datetime.now() + timedelta(hours=4))  # 3 h activity + 30 min grace: past it
    page.reload()
    expect(page.locator("[data-testid=kit-status]")).to_contain_text("人的名单")
    page.set_input_files("[data-testid=photo]", _qr_files(tmp_path, [village["people"][0]]))
    expect(page.locator("[data-testid=last-result]")).to_contain_text("不在本活动的签到时间内")
    expect(page.locator("[data-testid=queue-count]")).to_have_text("0")
    page.clock.install(time=datetime.now() + timedelta(days=8))
    page.reload()
    expect(page.locator("[data-testid=scanner]")).to_have_attribute("data-ready", "1")
    expect(page.locator("[data-testid=kit-status]")).to_contain_text("本机没有这个活动的名单")
    assert page.evaluate("async () => (await window.jifenScanner.state.db.getAll('kits')).length") == 0
