"""Pure rules of the store: codes people can read aloud, calendar months, images, statements."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from service.errors import InvalidInput
from service.store import rules


def test_codes_use_only_unambiguous_letters() -> None:
    codes = {rules.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == 8
        assert not set(code) & set("0O1IL")


def test_normalise_code_accepts_typing_and_scanned_urls() -> None:
    assert rules.normalise_code(" abcd-2345 ") == "ABCD2345"
    assert rules.normalise_code("http://x.cn/o/ABCD2345") == "ABCD2345"
    assert rules.normalise_code("https://x.cn/v/abcd2345/") == "ABCD2345"
    assert rules.normalise_code("ABCD0345") is None  # 0 is not in the alphabet
    assert rules.normalise_code("ABC") is None
    assert rules.normalise_code("") is None


def test_month_bounds_follow_the_community_time_zone() -> None:
    start, end = rules.month_bounds("2026-03", "Asia/Shanghai")
    assert start.astimezone(UTC) == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 3, 31, 16, tzinfo=UTC)
    december = rules.month_bounds("2026-12", "Asia/Shanghai")
    assert december[1].year == 2027 and december[1].month == 1
    # 23:30 UTC on 31 March is already April in Shanghai.
    assert rules.month_of(datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "Asia/Shanghai") == "2026-04"
    for bad in ("2026-13", "2026-3", "march", "", "1999-01"):
        with pytest.raises(InvalidInput):
            rules.month_bounds(bad, "Asia/Shanghai")


def test_yuan_at_the_community_rate() -> None:
    assert rules.yuan(360, 5) == "18.00"
    assert rules.yuan(7, 3) == "0.21"
    assert rules.yuan(100, None) is None


def _image(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=fmt)
    return out.getvalue()


def test_process_image_bounds_and_reencodes() -> None:
    done = rules.process_image(_image("PNG", (3000, 1500)))
    assert done.media_type == "image/jpeg" and (done.width, done.height) == (1200, 600)
    with Image.open(io.BytesIO(done.thumb)) as thumb:
        assert max(thumb.size) == rules.THUMB_SIDE_PX
    transparent = rules.process_image(_image("PNG", (10, 10), "RGBA"))
    assert transparent.media_type == "image/png"
    for bad in (b"", b"GIF89a broken", b"%PDF-1.4", _image("PNG", (20, 20))[:40]):
        with pytest.raises(InvalidInput):
            rules.process_image(bad)


def test_process_image_refuses_decompression_bombs() -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.process_image(_image("PNG", (8000, 6000), "1"))
    assert caught.value.code == "image_too_large"
