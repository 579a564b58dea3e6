"""The client address: X-Forwarded-For counts only when the peer is a trusted proxy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from litestar import Request

from service.config import ConfigError, Settings
from service.http import client_address

SECRET = "s" * 40


def _request(peer: str, forwarded: str | None, trusted: str) -> Request:  # type: ignore[type-arg]
    settings = Settings.from_env(
        {
            "JIFEN_DATABASE_URL": "sqlite+aiosqlite:///:memory:",
            "JIFEN_SECRET_KEY": SECRET,
            "JIFEN_TRUSTED_PROXIES": trusted,
        }
    )
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/auth/login",
        "raw_path": b"/api/v1/auth/login",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": (peer, 5000),
        "server": ("testserver", 80),
        "scheme": "http",
        "litestar_app": SimpleNamespace(state=SimpleNamespace(settings=settings)),
        "state": {},
    }
    return Request(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No trusted proxies (the default): a caller who writes the header gains nothing.
        ("198.51.100.9", "1.2.3.4", "", "198.51.100.9"),
        # A peer that is not one of our proxies: its header is ignored.
        ("198.51.100.9", "1.2.3.4", "10.0.0.0/8", "198.51.100.9"),
        # Our proxy: the address it saw (the right-most hop) is the client...
        ("10.0.0.2", "1.2.3.4, 203.0.113.7", "10.0.0.0/8", "203.0.113.7"),
        # ...skipping our own proxies in the chain, but never trusting what the client wrote before.
        ("10.0.0.2", "1.2.3.4, 203.0.113.7, 10.0.0.3", "10.0.0.0/8", "203.0.113.7"),
        ("10.0.0.2", "not-an-ip, 10.0.0.3", "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", None, "10.0.0.0/8, 192.168.1.1", "10.0.0.2"),
        ("::1", "2001:db8::5", "::1", "2001:db8::5"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, trusted: str, expected: str) -> None:
    assert client_address(_request(peer, forwarded, trusted)) == expected


def test_a_bad_trusted_proxy_stops_the_server_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="JIFEN_TRUSTED_PROXIES"):
        Settings.from_env(
            {
                "JIFEN_DATABASE_URL": "sqlite+aiosqlite:///:memory:",
                "JIFEN_SECRET_KEY": SECRET,
                "JIFEN_TRUSTED_PROXIES": "10.0.0.0/8, proxy.example",
            }
        )
