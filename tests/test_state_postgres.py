"""What only the PostgreSQL state does: leases shared by replicas, migrations run once, the
password kept out of every message, a lost connection opened again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from syncd.config import StateConfig
from syncd.errors import ConfigError, StateUnwritable
from syncd.state_pg_schema import SCHEMA_VERSION, migrate
from syncd.state_postgres import PostgresStore
from tests.postgres_server import PASSWORD, PostgresServer
from tests.state_contract import NOW, booking

TTL = timedelta(minutes=2)
COACHES = [f"coach{n:02d}@coach.example" for n in range(10)]


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    return postgres_server.url(postgres_server.new_database())


@pytest.fixture
def replicas(database: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database, as two replicas on two machines would have."""
    one, two = (PostgresStore.open(StateConfig(url=database)) for _ in range(2))
    yield one, two
    one.close()
    two.close()


# --- leases -------------------------------------------------------------------------------------


def test_two_replicas_never_hold_one_coach_and_share_them_within_a_lease_period(
    replicas: tuple[PostgresStore, PostgresStore],
) -> None:
    """The first replica takes every coach; once the second is there, the first renews only
    its share, and the rest pass to the second when their leases run out."""
    one, two = replicas
    assert one.claim(COACHES, "r1", TTL, NOW) == frozenset(COACHES)
    assert two.claim(COACHES, "r2", TTL, NOW) == frozenset()
    later = NOW + timedelta(minutes=1)
    kept = one.claim(COACHES, "r1", TTL, later)
    assert len(kept) == 5 and two.claim(COACHES, "r2", TTL, later) == frozenset()
    after = NOW + TTL + timedelta(seconds=1)
    assert one.claim(COACHES, "r1", TTL, after) == kept
    taken = two.claim(COACHES, "r2", TTL, after)
    assert taken == frozenset(COACHES) - kept
    holders = one.leases()
    assert {coach: replica for coach, (replica, _) in holders.items()} == {
        **dict.fromkeys(kept, "r1"),
        **dict.fromkeys(taken, "r2"),
    }
    assert all(expires == after + TTL for _, expires in holders.values())


def test_a_dead_replicas_coaches_are_taken_over_once_its_leases_expire(
    replicas: tuple[PostgresStore, PostgresStore],
) -> None:
    one, two = replicas
    one.claim(COACHES, "dead", TTL, NOW)  # and never again: killed
    assert two.claim(COACHES, "r2", TTL, NOW + TTL - timedelta(seconds=1)) == frozenset()
    assert two.claim(COACHES, "r2", TTL, NOW + TTL) == frozenset(COACHES)


def test_a_released_replicas_coaches_are_taken_at_once(replicas: tuple[PostgresStore, PostgresStore]) -> None:
    one, two = replicas
    one.claim(COACHES, "r1", TTL, NOW)
    one.release("r1")
    assert one.leases() == {}
    assert two.claim(COACHES, "r2", TTL, NOW) == frozenset(COACHES)


def test_concurrent_claims_never_hand_a_coach_to_two_replicas(database: str) -> None:
    """Eight replicas claim forty coaches at the same moment, their leases all expired, in
    five rounds (each a lease period after the last): in each round no coach goes to two
    replicas. (How many each takes depends on which of them it has seen yet: the shares
    even out over the next claims.)"""
    coaches = [f"c{n}@coach.example" for n in range(40)]
    stores = [PostgresStore.open(StateConfig(url=database)) for _ in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def claim(n: int, at: datetime, got: dict[str, frozenset[str]]) -> None:
        try:
            start.wait()
            got[f"r{n}"] = stores[n].claim(coaches, f"r{n}", TTL, at)
        except BaseException as exc:
            errors.append(exc)

    for round_ in range(5):
        at = NOW + round_ * (TTL + timedelta(seconds=1))
        got: dict[str, frozenset[str]] = {}
        threads = [threading.Thread(target=claim, args=(n, at, got)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        held = sorted(c for coaches_held in got.values() for c in coaches_held)
        assert len(held) == len(set(held)), f"round {round_}: a coach went to two replicas"
        assert held, f"round {round_}: nobody took a free coach"
    for store in stores:
        store.close()


# --- migrations ---------------------------------------------------------------------------------


def test_replicas_starting_together_migrate_the_schema_once(database: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_one() -> None:
        try:
            start.wait()
            PostgresStore.open(StateConfig(url=database)).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(database) as raw:
        versions = [v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_an_older_schema_gets_only_the_migrations_it_lacks_and_keeps_its_records(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as raw:
        assert migrate(raw, "db", upto=1) == [1]
        raw.execute("INSERT INTO cursors (coach, cursor) VALUES ('ada@coach.example', 'kept')")
        assert migrate(raw, "db", upto=1) == []
    store = PostgresStore.open(StateConfig(url=database))
    assert store.cursor("ada@coach.example") == "kept"
    assert store.claim(["ada@coach.example"], "r1", TTL, NOW) == frozenset(["ada@coach.example"])
    store.close()
    with psycopg.connect(database, autocommit=True) as raw:
        assert migrate(raw, "db") == []


def test_a_schema_from_a_newer_syncd_is_refused_in_one_line(database: str) -> None:
    PostgresStore.open(StateConfig(url=database)).close()
    with psycopg.connect(database, autocommit=True) as raw:
        raw.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigError, match="newer syncd") as raised:
        PostgresStore.open(StateConfig(url=database))
    assert "\n" not in str(raised.value)


# --- passwords and connections ------------------------------------------------------------------


def test_the_password_comes_from_password_file_and_is_never_in_a_message(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = postgres_server.tcp_url(postgres_server.new_database())
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text(PASSWORD + "\n")
    bad.write_text("not-the-Pw-123\n")
    PostgresStore.open(StateConfig(url=url, password_file=good)).close()
    with pytest.raises(ConfigError) as refused:
        PostgresStore.open(StateConfig(url=url, password_file=bad))
    assert "password authentication failed" in str(refused.value)
    assert "not-the-Pw-123" not in str(refused.value) and "\n" not in str(refused.value)
    in_url = url.replace("@", ":wrong-Pw-456@", 1)
    with pytest.raises(ConfigError) as refused:
        PostgresStore.open(StateConfig(url=in_url))
    assert "wrong-Pw-456" not in str(refused.value) and ":***@" in str(refused.value)


def test_a_lost_connection_fails_one_call_then_is_opened_again(
    database: str, postgres_server: PostgresServer
) -> None:
    """A database restart or a network cut ends the pass with StateUnwritable (one line, no
    traceback); the next call connects again."""
    store = PostgresStore.open(StateConfig(url=database))
    store.save(booking(1), NOW)
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'syncd' AND datname = %s",
            (conninfo_to_dict(database)["dbname"],),
        )
    with pytest.raises(StateUnwritable, match="cannot read the state"):
        store.count()
    assert store.count() == 1
    store.close()


def test_a_role_that_may_not_create_the_tables_is_told_so_in_one_line(
    postgres_server: PostgresServer,
) -> None:
    """PostgreSQL 15 gives only the database owner the right to create tables in `public`."""
    name = postgres_server.new_database()
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute("CREATE ROLE syncd_reader LOGIN")
    url = postgres_server.url(name).replace("syncd_test@", "syncd_reader@")
    with pytest.raises(ConfigError, match="cannot open the state database: permission denied") as refused:
        PostgresStore.open(StateConfig(url=url))
    assert "\n" not in str(refused.value)
