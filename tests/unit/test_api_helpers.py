"""Pure helpers of the API layer: Docker's time formats, filters, request fields, framing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from berth.api.base import version_tuple
from berth.api.errors import BadRequest
from berth.api.filters import Filters
from berth.api.requests import Fields
from berth.api.streams import frame
from berth.api.timefmt import (
    parse_time_filter,
    parse_unix_ns,
    rfc3339nano,
    rfc3339nano_ns,
)
from berth.model.humanize import human_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (150, "2 minutes"),
        (3600, "About an hour"),
        (3 * 3600, "3 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration_like_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_rfc3339nano() -> None:
    assert rfc3339nano("2024-05-01T10:20:30.123400+00:00") == "2024-05-01T10:20:30.1234Z"
    assert rfc3339nano("2024-05-01T12:20:30+02:00") == "2024-05-01T10:20:30Z"
    assert rfc3339nano("2024-05-01T10:20:30.123456789Z") == "2024-05-01T10:20:30.123456789Z"
    assert rfc3339nano("2024-05-01T10:20:30.120+00:00") == "2024-05-01T10:20:30.12Z"
    assert rfc3339nano("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00Z"
    assert rfc3339nano("") == "0001-01-01T00:00:00Z"
    assert rfc3339nano_ns(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"


def test_timestamps_and_durations() -> None:
    assert parse_unix_ns("", "since") == 0
    assert parse_unix_ns("12.5", "since") == 12_500_000_000
    assert parse_unix_ns("12.000000001999", "since") == 12_000_000_001
    with pytest.raises(BadRequest, match="invalid value for 'until'"):
        parse_unix_ns("1.2.3", "until")
    now = datetime.now(UTC)
    assert abs(parse_time_filter("1h30m", "until") - (now - timedelta(minutes=90))).seconds < 5
    assert parse_time_filter("2024-01-02", "until") == datetime(2024, 1, 2, tzinfo=UTC)
    assert parse_time_filter("2024-01-02T03:04:05Z", "until").hour == 3
    assert parse_time_filter("1700000000", "until").year == 2023
    with pytest.raises(BadRequest, match="invalid until filter"):
        parse_time_filter("soon", "until")


def test_filters_forms_and_matching() -> None:
    map_form = Filters.parse('{"name":{"web":true,"db":false}}', ["name"])
    assert map_form.get("name") == {"web"}
    listed = Filters.parse('{"name":["^we", "[bad"]}', ["name"])
    assert listed.match("name", "web") and not listed.match("name", "aweb")
    assert Filters().match("name", "anything") and Filters().labels("label", {})
    fuzzy = Filters({"container": ["ab"]})
    assert fuzzy.fuzzy("container", "abc") and not fuzzy.fuzzy("container", "xab")
    labels = Filters({"label": ["a", "b=2"]})
    assert labels.labels("label", {"a": "x", "b": "2"})
    assert not labels.labels("label", {"a": "x", "b": "3"})
    assert not labels.labels("label", {})
    with pytest.raises(BadRequest, match="invalid filter 'size'"):
        Filters.parse('{"size":["1"]}', ["name"])
    with pytest.raises(BadRequest, match="invalid filter"):
        Filters.parse('["name"]', ["name"])


def test_fields_names_the_path() -> None:
    body = Fields({"A": {"B": [{"C": 1}]}, "Extra": None}, "thing")
    inner = body.obj("A")
    assert inner is not None
    (item,) = inner.obj_list("B")
    with pytest.raises(BadRequest, match=r"^A\.B\[0\]\.C must be a string, not an integer$"):
        item.text("C")
    with pytest.raises(BadRequest, match=r"unknown field\(s\) in the thing: Extra"):
        body.done()
    assert Fields({"Cmd": "ls"}, "x").strings("Cmd", allow_string=True) == ("ls",)
    assert Fields({"N": True}, "x").opt_flag("N") is True
    with pytest.raises(BadRequest, match="N must be an integer, not a boolean"):
        Fields({"N": True}, "x").number("N")


def test_versions_and_frames() -> None:
    assert version_tuple("1.47") == version_tuple("1.47.0") > version_tuple("1.9")
    assert version_tuple("1.100") > version_tuple("1.47")
    assert frame("stderr", b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"
