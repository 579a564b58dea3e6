"""Image uploads: a small file announcing too many pixels is refused from its header, nothing stored."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from PIL import Image, ImageFile

from service.errors import InvalidInput
from service.kit import images
from tests.support.problems import problem as _problem
from tests.support.rewards import make_rule as _rule
from tests.support.store import make_product
from tests.support.world import World


def _bomb_png() -> bytes:
    """8000 x 5000 = 40 megapixels of one colour: about 130 KB on disk, 120 MB decoded."""
    out = io.BytesIO()
    Image.new("RGB", (8000, 5000), (200, 180, 40)).save(out, format="PNG")
    return out.getvalue()


def _photo_with_gps() -> bytes:
    img = Image.new("RGB", (1200, 900), (10, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    exif[0x8825] = {2: (39.0, 54.0, 0.0)}
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_too_many_pixels_is_refused_from_the_header_without_decoding(monkeypatch: Any) -> None:
    bomb = _bomb_png()
    assert len(bomb) < 200_000
    loads: list[object] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self) or real_load(self))
    with pytest.raises(InvalidInput) as caught:
        images.clean_image(bomb, max_bytes=5_000_000, side_px=1000)
    assert caught.value.code == "image_too_large" and loads == []
    # Just under the limit is fine (4000 x 3000 = 12 megapixels).
    ok = io.BytesIO()
    Image.new("RGB", (4000, 3000), (1, 2, 3)).save(ok, format="PNG")
    assert images.clean_image(ok.getvalue(), max_bytes=5_000_000, side_px=1000).width == 1000


def test_at_most_two_images_are_decoded_at_once_per_process(monkeypatch: Any) -> None:
    busy, most = 0, 0
    lock = threading.Lock()
    real = images._reencode

    def slow(*args: Any) -> Any:
        nonlocal busy, most
        with lock:
            busy += 1
            most = max(most, busy)
        time.sleep(0.05)
        with lock:
            busy -= 1
        return real(*args)

    monkeypatch.setattr(images, "_reencode", slow)
    photo = _photo_with_gps()
    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda _: images.clean_image(photo, max_bytes=10**7, side_px=800), range(8)))
    assert len(done) == 8 and most == images.IMAGE_DECODES_PER_WORKER


async def test_claim_photo_of_40_megapixels_is_refused_and_nothing_is_stored(
    client: Any, world: World
) -> None:
    rule = await _rule(client, world)
    r = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["id"], "member_id": str(world.members["alice"].id), "evidence": "x"},
        headers=world.h["alice"],
    )
    cid = r.json()["id"]
    url = f"/api/v1/claims/{cid}/photos"
    png = {**world.h["alice"], "Content-Type": "image/png"}
    _problem(await client.post(url, content=_bomb_png(), headers=png), 422, "image_too_large")
    assert (await client.get(f"/api/v1/claims/{cid}", headers=world.h["alice"])).json()["photo_ids"] == []
    # An ordinary phone photo still goes in, without its camera and GPS tags.
    jpeg = {**world.h["alice"], "Content-Type": "image/jpeg"}
    r = await client.post(url, content=_photo_with_gps(), headers=jpeg)
    assert r.status_code == 201, r.text
    got = await client.get(r.json()["url"], headers=world.h["reviewer"])
    assert b"SecretCam" not in got.content
    with Image.open(io.BytesIO(got.content)) as img:
        assert not img.getexif() and img.size == (1200, 900)


async def test_product_photo_of_40_megapixels_is_refused_and_nothing_is_stored(
    client: Any, world: World
) -> None:
    product = await make_product(client, world)
    url = f"/api/v1/products/{product['id']}/image"
    r = await client.put(url, content=_bomb_png(), headers={**world.h["clerk"], "Content-Type": "image/png"})
    _problem(r, 422, "image_too_large")
    assert (await client.get(url)).status_code == 404
    files = {"image": ("big.png", _bomb_png(), "image/png")}
    _problem(await client.put(url, files=files, headers=world.h["clerk"]), 422, "image_too_large")
    assert (await client.get(url)).status_code == 404
    after = await client.get(f"/api/v1/products/{product['id']}", headers=world.h["clerk"])
    assert after.json().get("image_url") is None
