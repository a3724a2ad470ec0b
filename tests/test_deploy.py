"""The deployment files say what the README says they do."""

from __future__ import annotations

import configparser
import pathlib

DEPLOY = pathlib.Path(__file__).resolve().parent.parent / "deploy"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "botkit.service").read_text())
    return parser


def test_systemd_unit() -> None:
    service = _unit()["Service"]
    assert service["ExecStart"].endswith("botkit run")
    assert service["Restart"] == "on-failure"
    # A revoked token (3) or bad config (2) cannot be fixed by restarting.
    assert set(service["RestartPreventExitStatus"].split()) == {"2", "3"}
    assert service["StateDirectory"] == "botkit"
    assert service["StateDirectoryMode"] == "0700"
    assert service["UMask"] == "0077"
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    # The drain must fit in the stop timeout (default shutdown_timeout is 30 s).
    assert int(service["TimeoutStopSec"]) > 30


def test_containerfile_copies_what_exists() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    root = DEPLOY.parent
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source
    assert 'CMD ["run"]' in text and "USER botkit" in text
