"""Each replica sharing a PostgreSQL state keeps its own health record, and `syncd status`
lists the last pass of every live replica (one shared record showed whichever wrote last)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd import health
from syncd.config import StateConfig
from syncd.state_postgres import PostgresStore
from tests.postgres_server import PostgresServer
from tests.support import COACH, Workspace

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def record(replica: str, summary: str, finished: datetime, next_pass: datetime | None) -> health.Health:
    return health.Health(
        started=finished - timedelta(seconds=2),
        finished=finished,
        ok=True,
        summary=summary,
        next_pass=next_pass,
        replica=replica,
    )


def test_replica_lines_show_each_replicas_last_and_next_pass_then_the_followups_once() -> None:
    healths = {
        "b-host:2": record("b-host:2", "2 bookings tracked", NOW, NOW + timedelta(minutes=1)),
        "a-host:1": None,
    }
    lines = health.format_replicas(healths, [("a@x.example", "Al", NOW)], now=NOW, tz=UTC)
    assert lines == [
        "Replicas: 2",
        "Replica a-host:1:",
        "  Last pass: never (the daemon has not completed a pass yet)",
        "Replica b-host:2:",
        "  Last pass: 2025-03-10 09:00 UTC (ok): 2 bookings tracked",
        "  Next pass: 2025-03-10 09:01 UTC",
        "  Errors per coach: none",
        "Pending follow-ups: 1, soonest first:",
        "  2025-03-10 09:00 UTC  Al  (a@x.example)  (due now)",
    ]


def test_a_record_without_replica_is_the_single_process_one() -> None:
    """The SQLite daemon's record keeps its key (`health`): status of an existing install
    reads what the previous version wrote."""
    saved = record("", "1 booking tracked", NOW, None)
    assert health.meta_key(saved.replica) == "health"
    assert health.Health.from_json(saved.to_json()) == saved
    assert health.meta_key("host:7") == "health:host:7"


def test_status_lists_every_live_replicas_last_pass(tmp_path: Path, postgres_server: PostgresServer) -> None:
    url = postgres_server.url(postgres_server.new_database())
    ws = Workspace(tmp_path, state=f'{{url: "{url}"}}')
    store = PostgresStore.open(StateConfig(url=url))
    try:
        now = datetime.now(UTC)
        for replica in ("alpha:1", "beta:2"):  # both live: they claimed within their lease
            store.claim([COACH], replica, LEASE, now)
        health.save_health(store, record("alpha:1", "alpha's pass summary", now, now + timedelta(minutes=1)))
        health.save_health(store, record("beta:2", "beta's pass summary", now, now + timedelta(minutes=1)))
        out = ws.run("status").stdout
        assert "Replicas: 2" in out, out
        assert "Replica alpha:1:" in out and "alpha's pass summary" in out, out
        assert "Replica beta:2:" in out and "beta's pass summary" in out, out
    finally:
        store.close()


def test_a_dead_replicas_record_goes_with_it(tmp_path: Path, postgres_server: PostgresServer) -> None:
    """A replica seen last a lease ago is dropped by the next claim, and its record with it:
    names are host:pid, so without this every restart would add a record forever."""
    url = postgres_server.url(postgres_server.new_database())
    store = PostgresStore.open(StateConfig(url=url))
    try:
        long_ago = datetime.now(UTC) - 2 * LEASE
        store.claim([COACH], "gone:1", LEASE, long_ago)
        health.save_health(store, record("gone:1", "old pass", long_ago, long_ago + timedelta(minutes=1)))
        now = datetime.now(UTC)
        assert set(store.replica_health(now)) == {"gone:1"}, "with none live, the last records are shown"
        store.claim([COACH], "alive:2", LEASE, now)
        assert store.replica_health(now) == {"alive:2": None}
        assert store.get_meta(health.meta_key("gone:1")) is None
    finally:
        store.close()


def test_syncd_once_records_under_its_replica_until_another_replica_runs(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """`syncd once` names its record after its replica; with none running, status shows the
    record the last one left, saying no pass follows; the next replica's claim drops it."""
    url = postgres_server.url(postgres_server.new_database())
    ws = Workspace(tmp_path, state=f'{{url: "{url}"}}')
    ws.put("a1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    base = ws.config.read_text(encoding="utf-8")
    ws.config.write_text(base + "replica: north\n", encoding="utf-8")
    ws.run("once")
    out = ws.run("status").stdout
    assert "Replicas: 1\nReplica north:\n  Last pass:" in out, out
    assert "Next pass: none (the daemon stopped after this pass)" in out, out
    ws.config.write_text(base + "replica: south\n", encoding="utf-8")
    ws.run("once")
    out = ws.run("status").stdout
    assert "Replica south:" in out and "north" not in out, out
