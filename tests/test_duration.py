"""Duration parsing: every form users write, and the round trip with format_duration."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit._duration import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("12h", 43200), ("30d", 2592000), ("1h30m", 5400),
     ("2w", 1209600), ("45", 45), (" 10S ", 10), ("0.5s", 0.5), (7, 7), (1.5, 1.5)],
)
def test_accepted_forms(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(
    "text", ["", "soon", "5 minutes", "-5s", "5x", "s", "nan", "inf", True, "1E100", "9" * 30 + "d"]
)
def test_rejected_forms(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**8))
def test_format_then_parse_round_trips(seconds: int) -> None:
    delta = datetime.timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


@given(st.text(max_size=12))
def test_parser_never_fails_otherwise(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert result.total_seconds() >= 0
