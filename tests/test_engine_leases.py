"""The engine runs only the coaches its replica holds a lease on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd.config import StateConfig, load_settings
from syncd.engine import open_engine
from syncd.state_postgres import PostgresStore
from tests.postgres_server import PostgresServer
from tests.support import COACH, Workspace


def test_a_coach_another_replica_holds_is_left_to_it_until_released(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.url(postgres_server.new_database())
    ws = Workspace(tmp_path, state=f'{{url: "{url}"}}')
    ws.put("a1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    other = PostgresStore.open(StateConfig(url=url))
    assert other.claim([COACH], "other-host:1", timedelta(minutes=5), datetime.now(UTC)) == {COACH}
    engine = open_engine(load_settings(ws.config))
    try:
        engine.run_pass(datetime.now(UTC))
        assert ws.notes() == [], "run while another replica held the coach"
        other.release("other-host:1")
        engine.run_pass(datetime.now(UTC))
        assert len(ws.notes()) == 1
        assert {replica for replica, _ in other.leases().values()} == {engine.replica}
    finally:
        engine.close()
    assert other.leases() == {}, "a replica that stops gives its coaches up"
    other.close()
