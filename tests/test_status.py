"""`syncd status` after months of bookings: this week's first, the old ones on request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import COACH, Workspace


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Five bookings tracked by one pass: two long over and done (their follow-ups skipped as
    too late), one old session whose follow-up is still to come (a 100-day delay), one that
    ended two days ago and one tomorrow."""
    ws = Workspace(tmp_path_factory.mktemp("status"), lookback="400d", delay="100d")
    sessions = {
        "ancient": ("Ann Ancient", 300),
        "older": ("Olga Older", 150),
        "waiting": ("Walt Waiting", 60),
        "recent": ("Rita Recent", 2),
        "soon": ("Sam Soon", -1),
    }
    for uid, (name, days_ago) in sessions.items():
        client = (name, f"{uid}@client.example")
        ws.put(uid, "Intro session", now() - timedelta(days=days_ago), client=client)
    ws.run("once")
    return ws


def test_status_shows_this_weeks_sessions_and_anything_still_pending(history: Workspace) -> None:
    """The default view: recent and upcoming sessions and an old one with its follow-up still
    pending, the README's columns, a line saying how many are left out, then the health."""
    out = history.run("status").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["client", "start", "state", "follow-up", "note"]
    assert "Walt Waiting" in out and "Rita Recent" in out and "Sam Soon" in out
    assert "Ann Ancient" not in out and "Olga Older" not in out
    assert "2 older bookings not shown" in out and "--all" in out and "--since" in out
    assert "Last pass:" in out and "Pending follow-ups: 3" in out
    # With one coach, the pending follow-ups do not repeat the coach's address.
    assert COACH not in out


def test_status_since_and_all_bring_the_older_bookings_back(history: Workspace) -> None:
    since = history.run("status", "--since", "200d").stdout
    assert "Olga Older" in since and "Ann Ancient" not in since and "1 older booking not shown" in since
    every = history.run("status", "--all").stdout
    assert all(name in every for name in ("Ann Ancient", "Olga Older", "Walt Waiting", "Sam Soon"))
    assert "not shown" not in every and "skipped" in every


def test_status_with_a_bad_duration_says_so_in_one_line(history: Workspace) -> None:
    result = history.run("status", "--since", "a while", check=False)
    assert result.returncode == 2
    assert "not a duration: 'a while'" in result.stderr and "Traceback" not in result.stderr
