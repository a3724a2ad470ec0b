"""Schema failures of the fake answer with the server's exact `error` text (§4.0, §7 item 14).

ajv runs without `allErrors` (first error per schema, one per tried `oneOf`/`anyOf` branch) and
the server sends `error.message` only, without ajv's `instancePath`.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from botkit.testing import FakeRocketChat, User

from .conftest import auth

V1 = "/api/v1/"
ONE_OF = "must match exactly one schema in oneOf"
ANY_OF = "must match a schema in anyOf"


@pytest.fixture
def bot(fake: FakeRocketChat) -> tuple[User, dict[str, str]]:
    user = fake.add_user("bot", "pw", roles=["bot"])
    return user, auth(user, fake.create_pat(user, "jobs"))


def _legacy(*messages: str) -> dict[str, Any]:
    """`validateParams`: Meteor.Error('invalid-params', messages joined by "\\n ")."""
    text = "\n ".join(messages)
    return {"success": False, "error": f"{text} [invalid-params]", "errorType": "invalid-params"}


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        # unknown key: the roomId branch stops at additionalProperties, the channel branch
        # at its required property
        (
            {"roomId": "GENERAL", "msg": "hi"},
            ["must NOT have additional properties", "must have required property 'channel'"],
        ),
        (
            {"channel": "#general", "msg": "hi"},
            ["must have required property 'roomId'", "must NOT have additional properties"],
        ),
        (
            {"channel": "#general", "roomId": "GENERAL", "text": "hi"},
            ["must NOT have additional properties", "must NOT have additional properties"],
        ),
        (
            {"channel": "#general", "text": "hi", "tmid": "abc"},
            ["must have required property 'roomId'", "must NOT have additional properties"],
        ),
        (
            {"text": "hi"},
            ["must have required property 'roomId'", "must have required property 'channel'"],
        ),
        # a wrong type: no "/text" prefix, and only the first bad property of the branch
        (
            {"roomId": "GENERAL", "text": 5, "alias": 6},
            ["must be string", "must have required property 'channel'"],
        ),
        (
            {"channel": "#general", "parseUrls": "yes"},
            ["must have required property 'roomId'", "must be boolean"],
        ),
        (
            {"channel": "#general", "attachments": [{"text": "a"}, "b"]},
            ["must have required property 'roomId'", "must be object"],
        ),
        # the target's own oneOf (string | array of strings) adds its branch errors
        (
            {"roomId": 5, "text": "hi"},
            ["must be string", "must be array", ONE_OF, "must have required property 'channel'"],
        ),
        (
            {"channel": ["#general", 7]},
            ["must have required property 'roomId'", "must be string", "must be string", ONE_OF],
        ),
    ],
)
async def test_post_message_error_text(
    client: httpx.AsyncClient,
    bot: tuple[User, dict[str, str]],
    body: dict[str, Any],
    messages: list[str],
) -> None:
    r = await client.post(f"{V1}chat.postMessage", json=body, headers=bot[1])
    assert r.status_code == 400
    assert r.json() == _legacy(*messages, ONE_OF)


async def test_post_message_valid_bodies_pass(
    client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    bodies: list[dict[str, Any]] = [
        {"roomId": "GENERAL", "text": "a"},
        {"roomId": ["GENERAL"], "text": "b", "parseUrls": False, "customFields": {}},
        {"channel": "#general", "text": "c", "attachments": [{"text": "d"}]},
    ]
    for body in bodies:
        r = await client.post(f"{V1}chat.postMessage", json=body, headers=bot[1])
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "must have required property 'message'"),
        # required is checked before additionalProperties, and only one error is reported
        ({"msg": "x"}, "must have required property 'message'"),
        ({"message": {"rid": "GENERAL"}, "extra": 1}, "must NOT have additional properties"),
        ({"message": "hello"}, "must be object"),
        ({"message": {"rid": "GENERAL"}, "previewUrls": "x"}, "must be array"),
        ({"message": {"rid": "GENERAL"}, "previewUrls": [1]}, "must be string"),
    ],
)
async def test_send_message_error_text(
    client: httpx.AsyncClient, bot: tuple[User, dict[str, str]], body: dict[str, Any], message: str
) -> None:
    r = await client.post(f"{V1}chat.sendMessage", json=body, headers=bot[1])
    assert r.status_code == 400
    assert r.json() == _legacy(message)


@pytest.mark.parametrize(
    ("params", "messages"),
    [
        (
            {},
            [
                "must have required property 'userId'",
                "must have required property 'username'",
                "must have required property 'importId'",
            ],
        ),
        (
            {"userId": "a", "username": "b"},
            [
                "must NOT have additional properties",
                "must NOT have additional properties",
                "must have required property 'importId'",
            ],
        ),
        (
            {"username": "b", "extra": "1"},
            [
                "must have required property 'userId'",
                "must NOT have additional properties",
                "must have required property 'importId'",
            ],
        ),
    ],
)
async def test_users_info_error_text(
    client: httpx.AsyncClient,
    bot: tuple[User, dict[str, str]],
    params: dict[str, str],
    messages: list[str],
) -> None:
    r = await client.get(f"{V1}users.info", params=params, headers=bot[1])
    assert r.status_code == 400
    assert r.json() == _legacy(*messages, ANY_OF)


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        # the `usernames` branch comes first in DmCreateProps
        ({}, ["must have required property 'usernames'", "must have required property 'username'"]),
        (
            {"username": "alice", "usernames": "alice"},
            ["must NOT have additional properties", "must NOT have additional properties"],
        ),
        ({"username": 5}, ["must have required property 'usernames'", "must be string"]),
        (
            {"usernames": "alice", "excludeSelf": "yes"},
            ["must be boolean", "must have required property 'username'"],
        ),
    ],
)
async def test_im_create_error_text_is_typed_and_unprefixed(
    client: httpx.AsyncClient, body: dict[str, Any], messages: list[str]
) -> None:
    for route in ("im.create", "dm.create"):
        r = await client.post(f"{V1}{route}", json=body)  # checked before authentication
        assert r.status_code == 400
        # http-router's parse(): messages joined by "\n", no suffix, errorType first
        assert r.json() == {
            "success": False,
            "errorType": "invalid-params",
            "error": "\n".join([*messages, ONE_OF]),
        }


async def test_im_history_query_slot_runs_before_everything(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    """The typed query check answers before authentication and before the rate limiter counts,
    with the query flavour (`error-invalid-params`)."""
    alice = fake.add_user("alice", "pw")
    h = auth(alice, fake.create_pat(alice, "t"))
    fake.update_settings({"API_Enable_Rate_Limiter_Limit_Calls_Default": 1})
    for _ in range(3):
        r = await client.get(f"{V1}im.history", params={"roomId": "x", "count": "ten"}, headers=h)
        assert r.json() == {
            "success": False,
            "errorType": "error-invalid-params",
            "error": "must be number",
        }
    assert not any(e.user_id for e in fake.request_log)  # never authenticated
    r = await client.get(f"{V1}im.history", params={"roomId": "bot"}, headers=h)
    assert r.status_code == 200  # the rate limiter had counted nothing yet


def test_typed_query_is_its_own_route_slot_checked_before_the_body(fake: FakeRocketChat) -> None:
    """http-router checks `query` (400 `error-invalid-params`), then `body` (400
    `invalid-params`), both before the ApiClass wrapper: no credentials are needed to get them."""
    from botkit.testing._app import _ROUTES, _run_pipeline
    from botkit.testing._routing import Ctx, Route

    for name in ("im.history", "dm.history"):
        route = _ROUTES[("GET", f"{V1}{name}")]
        assert route.typed_query is not None and route.typed_body is None

    def handler(ctx: Ctx) -> dict[str, Any]:
        return {"coerced": ctx.coerced}

    def query_check(ctx: Ctx) -> list[str]:
        if "q" not in ctx.query:
            return ["must have required property 'q'"]
        ctx.coerced["q"] = 1.0
        return []

    route = Route(
        "x.test",
        ("POST",),
        handler,
        auth=False,
        typed_query=query_check,
        typed_body=lambda ctx: [] if "b" in ctx.body else ["must have required property 'b'"],
    )

    def run(query: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ctx = Ctx(fake, "POST", "x.test", query, body, {}, "127.0.0.1")
        return _run_pipeline(ctx, route)

    assert run({}, {}) == (
        400,
        {
            "success": False,
            "errorType": "error-invalid-params",
            "error": "must have required property 'q'",
        },
    )
    assert run({"q": "1"}, {}) == (
        400,
        {
            "success": False,
            "errorType": "invalid-params",
            "error": "must have required property 'b'",
        },
    )
    assert run({"q": "1"}, {"b": 1}) == (200, {"coerced": {"q": 1.0}, "success": True})
