"""Request parsing and envelopes (§4.0) and the client address (§3.8)."""

from __future__ import annotations

import httpx
import pytest

from botkit.testing import FakeRocketChat
from botkit.testing._app import client_ip, parse_body

from .conftest import auth


@pytest.mark.parametrize(
    ("content_type", "raw", "expected"),
    [
        ("application/json", b'{"a":1}', {"a": 1}),
        ("application/json; charset=utf-8", b"{broken", {}),
        ("application/json", b"[1,2]", {}),
        ("application/x-www-form-urlencoded", b"tokenName=x&b=", {"tokenName": "x", "b": ""}),
        ("text/plain", b"ab", {"0": "a", "1": "b"}),
        ("", b"", {}),
    ],
)
def test_body_parsing(content_type: str, raw: bytes, expected: dict[str, object]) -> None:
    assert parse_body(content_type, raw) == expected


def test_client_ip_rules() -> None:
    scope = {"client": ("10.0.0.1", 1234)}
    assert client_ip(scope, {}) == "10.0.0.1"
    assert client_ip(scope, {"x-real-ip": "1.2.3.4"}) == "1.2.3.4"
    xff = {"x-forwarded-for": "5.5.5.5, 6.6.6.6, 7.7.7.7"}
    assert client_ip(scope, xff) == "10.0.0.1"  # ignored without HTTP_FORWARDED_COUNT
    assert client_ip(scope, xff, forwarded_count=1) == "7.7.7.7"
    assert client_ip(scope, xff, forwarded_count=2) == "6.6.6.6"
    assert client_ip(scope, xff, forwarded_count=4) == "10.0.0.1"


async def test_headers_are_case_insensitive_and_unknown_routes_404(
    fake: FakeRocketChat, client: httpx.AsyncClient
) -> None:
    user = fake.add_user("alice", "pw")
    token = fake.create_login_token(user)
    r = await client.get("/api/v1/me", headers={"x-user-id": user.id, "X-AUTH-TOKEN": token})
    assert r.status_code == 200
    r = await client.get("/api/v1/no.such.route", headers=auth(user, token))
    assert r.status_code == 404
    r = await client.get("/api/v1/chat.postMessage", headers=auth(user, token))
    assert r.status_code == 404
