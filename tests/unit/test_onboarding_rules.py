"""Activation codes: derived from the row id with the secret, typed back however people type them."""

from __future__ import annotations

import uuid

from service.accounts import rules

KEY = "k" * 40


def test_an_activation_code_is_the_same_every_time_it_is_printed_and_differs_per_row_and_key() -> None:
    aid = uuid.uuid4()
    code = rules.activation_code(KEY, aid)
    assert code == rules.activation_code(KEY, aid)
    assert len(code) == rules.ACTIVATION_CODE_LENGTH and set(code) <= set(rules.ACTIVATION_ALPHABET)
    assert not set(code) & set("01OI")
    assert rules.activation_code(KEY, uuid.uuid4()) != code
    assert rules.activation_code("j" * 40, aid) != code


def test_a_code_typed_in_groups_lower_case_or_full_width_finds_the_same_hash() -> None:
    code = rules.activation_code(KEY, uuid.uuid4())
    shown = rules.format_activation_code(code)
    assert shown.count("-") == 2 and shown.replace("-", "") == code
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in shown.lower())
    for typed in (shown, shown.lower(), f" {code[:4]} {code[4:8]} {code[8:]} ", full_width):
        assert rules.code_hash(rules.normalise_activation_code(typed)) == rules.code_hash(code)


def test_sms_code_hashes_are_keyed_and_bound_to_the_phone() -> None:
    h = rules.sms_code_hash(KEY, "13900000001", "123456")
    assert h != rules.sms_code_hash(KEY, "13900000002", "123456")
    assert h != rules.sms_code_hash("j" * 40, "13900000001", "123456")


# ---------------------------------------------------------------- the SMS sender setting


def test_sms_backend_defaults_need_no_network_and_bad_values_stop_the_start() -> None:
    import pytest

    from service.config import ConfigError, Settings

    base = {"JIFEN_SECRET_KEY": KEY}
    assert Settings.from_env(base).sms_backend == "console"
    assert Settings.from_env({**base, "JIFEN_ENV": "production"}).sms_backend == "off"
    with pytest.raises(ConfigError, match="JIFEN_SMS_BACKEND"):
        Settings.from_env({**base, "JIFEN_SMS_BACKEND": "carrier-pigeon"})
    with pytest.raises(ConfigError, match="JIFEN_SMS_URL"):
        Settings.from_env({**base, "JIFEN_SMS_BACKEND": "http"})


def test_call_backend_defaults_need_no_network_and_bad_values_stop_the_start() -> None:
    import pytest

    from service.config import ConfigError, Settings
    from service.wishes.calls import ConsoleRelay, HttpRelay, relay_for

    base = {"JIFEN_SECRET_KEY": KEY}
    assert isinstance(relay_for(Settings.from_env(base)), ConsoleRelay)
    production = Settings.from_env({**base, "JIFEN_ENV": "production"})
    assert production.call_backend == "off" and relay_for(production) is None
    http = {**base, "JIFEN_CALL_BACKEND": "HTTP", "JIFEN_CALL_URL": "https://axb.example/bind"}
    assert isinstance(relay_for(Settings.from_env(http)), HttpRelay)
    with pytest.raises(ConfigError, match="JIFEN_CALL_BACKEND"):
        Settings.from_env({**base, "JIFEN_CALL_BACKEND": "carrier-pigeon"})
    with pytest.raises(ConfigError, match="JIFEN_CALL_URL"):
        Settings.from_env({**base, "JIFEN_CALL_BACKEND": "http", "JIFEN_CALL_URL": "axb.example"})


async def test_the_console_relay_answers_the_same_number_for_the_same_binding() -> None:
    from datetime import UTC, datetime

    from service.wishes.calls import ConsoleRelay

    until = datetime(2026, 12, 7, tzinfo=UTC)
    one = await ConsoleRelay().bind(a="13900000002", b="13900000001", ref="w1", expires_at=until)
    assert one == await ConsoleRelay().bind(a="13900000002", b="13900000001", ref="w1", expires_at=until)
    other = await ConsoleRelay().bind(a="13900000003", b="13900000001", ref="w1", expires_at=until)
    assert one is not None and one.startswith("170") and len(one) == 11 and other != one
    assert "13900000001" not in one


async def test_the_http_sender_posts_json_with_the_token_to_the_provider() -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from service.accounts.sms import HttpSender, sender_for
    from service.config import Settings

    received: list[tuple[dict[str, str], str]] = []

    class Provider(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((json.loads(body), self.headers["Authorization"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Provider)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/send"
    settings = Settings(
        database_url="sqlite+aiosqlite:///x.db",
        secret_key=KEY,
        sms_backend="http",
        sms_url=url,
        sms_token="t0k",
    )
    sender = sender_for(settings)
    assert isinstance(sender, HttpSender)
    await sender.send("13900000001", "【积分】您的验证码是 123456")
    thread.join(5)
    server.server_close()
    assert received == [({"phone": "13900000001", "text": "【积分】您的验证码是 123456"}, "Bearer t0k")]
