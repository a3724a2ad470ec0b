"""`count`/`offset` as the server reads them (§4.0; `helpers/getPaginationItems.ts`):
`parseInt(String(value))` with no radix, no check of the result."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.testing import FakeRocketChat, User
from botkit.testing._pagination import js_parse_int, js_string, pagination_items

from .conftest import T0, auth

V1 = "/api/v1/"

# ECMA-262 StrWhiteSpaceChar: WhiteSpace (TAB VT FF SP NBSP ZWNBSP, Unicode Zs) + LineTerminator.
_JS_SPACE = "[\t\v\f \u00a0\ufeff\u1680\u2000-\u200a\u202f\u205f\u3000\n\r\u2028\u2029]"
_PREFIX = re.compile(f"^{_JS_SPACE}*([+-]?)(.*)$", re.DOTALL)


def reference_parse_int(string: str) -> float:
    """ECMA-262 §19.2.5 `parseInt(string, radix)` with radix undefined, step by step."""
    match = _PREFIX.match(string)
    assert match is not None
    sign, s = (-1 if match.group(1) == "-" else 1), match.group(2)
    radix = 10
    if s[:2].lower() == "0x":  # stripPrefix: R is 0, so a 0x/0X prefix means base 16
        s, radix = s[2:], 16
    digits = re.match("[0-9a-fA-F]*" if radix == 16 else "[0-9]*", s)
    z = digits.group(0) if digits else ""
    if not z:
        return math.nan
    value = 0
    for ch in z:
        value = value * radix + int(ch, 16)
    return float(sign * value)


_ALPHABET = [
    *"0123456789abcdefxXeE+-.",
    " ",
    "\t",
    "\n",
    "\u00a0",  # JS white space
    "\u2028",
    "\ufeff",
    "\u3000",
    "\x1c",  # Python's str.strip removes these, JavaScript does not
    "\x85",
    "\u200b",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: str.isdigit, not a JS digit
]


@given(st.text(alphabet=st.sampled_from(_ALPHABET), max_size=12) | st.text(max_size=12))
def test_parse_int_matches_javascript(text: str) -> None:
    expected = reference_parse_int(text)
    got = js_parse_int(text)
    if math.isnan(expected):
        assert got is None
    else:
        assert got is not None and float(got) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2e1", 2),
        ("0x10", 16),  # no radix is passed, so the hex prefix counts
        ("-0x10", -16),
        ("0xg", None),
        (" 12abc", 12),
        ("\u00a0\n7", 7),
        ("\x1c7", None),
        ("abc", None),
        ("-3", -3),
        ("-0", 0),
        ("+5.9", 5),
        ("", None),
        ("Infinity", None),
    ],
)
def test_parse_int_examples(text: str, value: int | None) -> None:
    assert js_parse_int(text) == value


@pytest.mark.parametrize(
    ("number", "text"),
    [(20.0, "20"), (-0.0, "0"), (1e21, "1e+21"), (1e-7, "1e-7"), (-2.5e-9, "-2.5e-9"), (0.5, "0")],
)
def test_js_string_keeps_what_parse_int_reads(number: float, text: str) -> None:
    assert js_string(number) == text


SETTINGS = {"API_Upper_Count_Limit": 100, "API_Default_Count": 50, "API_Allow_Infinite_Count": True}


@pytest.mark.parametrize(
    ("offset", "count", "expected"),
    [
        (None, None, (0, 50)),
        ("", "", (0, 0)),  # `count || 0`: an empty count is 0, i.e. no limit
        ("0", "0", (0, 0)),
        ("abc", "abc", (None, None)),  # NaN passes through
        ("-4", "-3", (-4, -3)),  # nothing is clamped below
        ("3x", "500", (3, 100)),
        (1e-7, 20.0, (1, 20)),  # ajv-coerced numbers: String(1e-7) is "1e-7"
        (0.0, math.inf, (0, None)),
    ],
)
def test_pagination_items(
    offset: str | float | None, count: str | float | None, expected: tuple[int | None, ...]
) -> None:
    assert pagination_items(SETTINGS, offset, count) == expected
    no_infinite = {**SETTINGS, "API_Allow_Infinite_Count": False}
    if expected[1] == 0:
        assert pagination_items(no_infinite, offset, count) == (expected[0], 50)


@pytest.fixture
def bot(fake: FakeRocketChat) -> tuple[User, dict[str, str]]:
    user = fake.add_user("bot", "pw", roles=["bot"])
    return user, auth(user, fake.create_pat(user, "jobs"))


async def test_users_list_reads_count_and_offset_with_parse_int(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    for i in range(30):
        fake.add_user(f"user{i:03d}", None)

    async def page(**params: str) -> httpx.Response:
        return await client.get(f"{V1}users.list", params=params, headers=bot[1])

    assert (await page(count="2e1")).json()["count"] == 2
    assert (await page(count="0x10")).json()["count"] == 16
    assert (await page(count=" 12abc")).json()["count"] == 12
    assert (await page(count="")).json()["count"] == 31  # "" -> 0 -> no limit
    body = (await page(count="-3", offset="1.9")).json()
    assert (len(body["users"]), body["offset"]) == (3, 1)  # a driver limit of -3 = 3 in one batch
    assert body["count"] == 3
    for params in ({"count": "abc"}, {"offset": "abc"}, {"offset": "-1"}):
        r = await page(**params)
        assert r.status_code == 400, params
        assert list(r.json()) == ["success", "error"]


async def test_im_history_paginates_the_coerced_numbers(
    fake: FakeRocketChat, client: httpx.AsyncClient, bot: tuple[User, dict[str, str]]
) -> None:
    """The typed query check coerces `count`/`offset` to numbers (`Number(value)`), and the
    action parses those: "2e1" is 20 here, not 2."""
    user, h = bot
    alice = fake.add_user("alice", "pw")
    room = fake.create_dm([user, alice])
    for i in range(25):
        fake.add_message(room, alice, f"m{i}", ts=T0 - timedelta(minutes=30 - i))

    async def history(**params: str) -> httpx.Response:
        return await client.get(f"{V1}im.history", params={"roomId": room.id, **params}, headers=h)

    assert len((await history(count="2e1")).json()["messages"]) == 20
    assert len((await history(count="0x3")).json()["messages"]) == 3
    messages = (await history(count="2", offset="1e-7")).json()["messages"]
    assert [m["msg"] for m in messages] == ["m23", "m22"]  # String(1e-7) = "1e-7" -> 1
    r = await history(count="Infinity")  # a number for ajv, NaN for parseInt
    assert r.status_code == 400 and list(r.json()) == ["success", "error"]
    r = await history(count="12abc")  # not a number for ajv
    assert r.json()["error"] == "must be number"
