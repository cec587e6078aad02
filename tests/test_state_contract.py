"""The state contract (tests/state_contract.py) on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from syncd.config import StateConfig
from syncd.state import StateStore, Store
from syncd.state_postgres import PostgresStore
from tests.postgres_server import PostgresServer
from tests.state_contract import Opener, StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Iterator[Opener]:
        opened: list[Store] = []

        def open_store(scratch: bool = False) -> Store:
            opened.append(StateStore.in_dir(tmp_path / "state", scratch=scratch))
            return opened[-1]

        yield open_store
        for store in opened:
            store.close()

    def corrupt(self, store: Store, booking_id: str, column: str, value: str) -> None:
        assert isinstance(store, StateStore)
        raw = sqlite3.connect(store.path)
        with raw:
            raw.execute(f"UPDATE bookings SET {column} = ? WHERE id = ?", (value, booking_id))
        raw.close()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def open_store(self, postgres_server: PostgresServer) -> Iterator[Opener]:
        config = StateConfig(url=postgres_server.url(postgres_server.new_database()))
        opened: list[Store] = []

        def open_store(scratch: bool = False) -> Store:
            opened.append(PostgresStore.open(config, scratch=scratch))
            return opened[-1]

        yield open_store
        for store in opened:
            store.close()

    def corrupt(self, store: Store, booking_id: str, column: str, value: str) -> None:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store._config.url, autocommit=True) as raw:
            raw.execute(f"UPDATE bookings SET {column} = %s WHERE id = %s", (value, booking_id))  # type: ignore[arg-type]
