"""The daemon's health record: stored as JSON in the state, printed by `syncd status`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from syncd import health

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


@dataclass
class Store:
    meta: dict[str, str] = field(default_factory=dict)
    pending: list[tuple[str, str, datetime]] = field(default_factory=list)

    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def put_meta(self, key: str, value: str) -> None:
        self.meta[key] = value

    def pending_followups(self) -> list[tuple[str, str, datetime]]:
        return self.pending


@dataclass
class Report:
    started: datetime = NOW
    finished: datetime = NOW + timedelta(seconds=3)
    errors: dict[str, int] = field(default_factory=dict)
    auth_failed: bool = False
    stopped_early: bool = False

    def summary(self) -> str:
        return f"3 bookings tracked, {sum(self.errors.values())} errors"


def test_health_round_trips_through_the_state() -> None:
    """What the daemon saves is what `syncd status` loads, aware datetimes included."""
    store = Store()
    saved = health.from_report(
        Report(errors={"a@x.example": 2, "b@x.example": 0}), NOW + timedelta(minutes=1)
    )
    health.save_health(store, saved)
    assert health.load_health(store) == saved
    assert saved.errors == {"a@x.example": 2}, "coaches without errors are not listed"
    assert not saved.ok


def test_missing_or_garbled_record_reads_as_none() -> None:
    """No pass yet, or a record from who knows where: status says 'never', it does not crash."""
    assert health.load_health(Store()) is None
    assert health.load_health(Store(meta={"health": "{not json"})) is None
    assert health.load_health(Store(meta={"health": '{"ok": true}'})) is None


def test_status_lines_show_last_and_next_pass_errors_and_followups() -> None:
    """Last pass time and result, next pass, errors per coach, pending follow-ups soonest first."""
    store = Store(
        pending=[
            ("a@x.example", "Bo", NOW + timedelta(hours=2)),
            ("a@x.example", "Al", NOW - timedelta(minutes=5)),
        ]
    )
    health.save_health(
        store, health.from_report(Report(errors={"a@x.example": 1}), NOW + timedelta(minutes=1))
    )
    lines = health.status_lines(store, now=NOW, tz=UTC)
    assert lines == [
        "Last pass: 2025-03-10 09:00 UTC (with errors): 3 bookings tracked, 1 errors",
        "Next pass: 2025-03-10 09:01 UTC",
        "Errors per coach:",
        "  a@x.example: 1",
        "Pending follow-ups: 2, soonest first:",
        "  2025-03-10 08:55 UTC  Al  (a@x.example)  (due now)",
        "  2025-03-10 11:00 UTC  Bo  (a@x.example)",
    ]


def test_status_warns_when_the_next_pass_is_long_overdue() -> None:
    """A next pass well in the past means the daemon is not running: say so."""
    record = health.from_report(Report(), NOW)
    lines = health.format_health(record, [], now=NOW + timedelta(hours=1), tz=UTC)
    assert "overdue" in lines[1]
    assert lines[2] == "Errors per coach: none"


def test_failed_pass_and_auth_failure_are_spelled_out() -> None:
    """A pass that raised shows FAILED and why; an auth failure says what to run."""
    failed = health.from_failure(NOW, NOW, "pass failed: disk full", None)
    assert health.format_health(failed, [], now=NOW, tz=UTC)[:2] == [
        "Last pass: 2025-03-10 09:00 UTC (FAILED): pass failed: disk full",
        "Next pass: none (the daemon stopped after this pass)",
    ]
    auth = health.from_report(Report(auth_failed=True), None)
    assert "syncd auth google" in health.format_health(auth, [], now=NOW, tz=UTC)[1]


def test_never_ran_and_long_pending_lists() -> None:
    """Before any pass: 'never'. Many follow-ups: the first ten and a count of the rest."""
    pending = [("a@x.example", f"C{i}", NOW + timedelta(hours=i)) for i in range(13)]
    lines = health.format_health(None, pending, now=NOW, tz=UTC)
    assert lines[0].startswith("Last pass: never")
    assert lines[-1] == "  ... and 3 more"
    assert len(lines) == 1 + 1 + 10 + 1
