"""The pytest plugin's fixtures (loaded through the `pytest11` entry point)."""

from __future__ import annotations

import httpx

from botkit.testing import RunningServer
from botkit.testing.pytest_plugin import BotUser


def test_rocketchat_fake_and_bot_user(rocketchat_fake: RunningServer, bot_user: BotUser) -> None:
    assert bot_user.url == rocketchat_fake.url
    assert bot_user.token not in repr(bot_user)
    with httpx.Client(base_url=rocketchat_fake.url, timeout=5) as http:
        r = http.get("/api/v1/me", headers=bot_user.headers)
        assert r.status_code == 200 and r.json()["username"] == "bot"
        r = http.post(
            "/api/v1/chat.postMessage",
            json={"channel": "#general", "text": "hello"},
            headers=bot_user.headers,
        )
        assert r.status_code == 200
    messages = rocketchat_fake.fake.room_messages("general")
    assert [m["msg"] for m in messages] == ["hello"]
    assert rocketchat_fake.fake.request_log[-1].token_name == bot_user.token_name


def test_plugin_module_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import botkit.testing.pytest_plugin; "
        "print('uvicorn' in sys.modules, 'starlette' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
