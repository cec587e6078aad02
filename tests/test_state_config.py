"""The `state:` section: a PostgreSQL URL, its password kept out of every line syncd prints,
and a database that cannot be reached refused in one line."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from syncd.config import redact_url
from tests.postgres_server import PostgresServer
from tests.support import Workspace


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ada:pw-1@db.example:5432/syncd", "postgresql://ada:***@db.example:5432/syncd"),
        (
            "postgresql://ada@db/s?sslmode=require&password=pw-1",
            "postgresql://ada@db/s?sslmode=require&password=***",
        ),
        ("postgresql:///syncd?host=/run/postgresql", "postgresql:///syncd?host=/run/postgresql"),
        ("postgres://u:p@ss:w@h/d", "postgres://u:***@h/d"),
    ],
)
def test_redact_url_blanks_every_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_check_config_shows_the_state_url_without_its_password(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, state='{url: "postgresql://ada:Pw-in-url-1@db.example/syncd", lease: 90s}')
    out = ws.run("check-config").stdout
    assert "state postgresql://ada:***@db.example/syncd" in out and "Pw-in-url-1" not in out


def test_the_password_in_two_places_or_a_url_of_another_kind_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x\n")
    ws = Workspace(tmp_path, state=f'{{url: "postgresql://ada:Pw-2@db/syncd", password_file: {secret}}}')
    line = one_error_line(ws.run("check-config", check=False))
    assert "state: give the password once" in line and "Pw-2" not in line
    ws.state = '{url: "mysql://ada:Pw-3@db/syncd"}'
    ws.write_config()
    line = one_error_line(ws.run("check-config", check=False))
    assert "state.url: expected a postgresql:// URL" in line and "Pw-3" not in line and ":***@" in line


def test_a_database_that_refuses_the_password_stops_syncd_in_one_line_without_it(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.tcp_url(postgres_server.new_database()).replace("@", ":Wrong-Pw-4@", 1)
    ws = Workspace(tmp_path, state=f'{{url: "{url}"}}')
    for command in ("once", "status"):
        line = one_error_line(ws.run(command, check=False))
        assert "password authentication failed" in line and "Wrong-Pw-4" not in line, line


def test_once_and_status_run_on_the_postgresql_state(tmp_path: Path, postgres_server: PostgresServer) -> None:
    """The whole pipeline on PostgreSQL: a booking recorded by `once` is in `status`, and a
    dry run records nothing."""
    ws = Workspace(tmp_path, state=f'{{url: "{postgres_server.url(postgres_server.new_database())}"}}')
    ws.put("a1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    ws.run("once", "--dry-run")
    assert "No bookings tracked yet." in ws.run("status").stdout
    ws.run("once")
    assert len(ws.notes()) == 1 and "Jane Client" in ws.run("status").stdout
    assert not (ws.root / "state" / "syncd.sqlite3").exists()


def test_a_database_that_cannot_be_reached_exits_1_in_one_line_so_a_service_is_started_again(
    tmp_path: Path,
) -> None:
    """Not a config error (exit 2, which systemd does not restart): the database may be
    starting, or the network back in a moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    ws = Workspace(tmp_path, state=f'{{url: "postgresql://ada:Pw-5@127.0.0.1:{port}/syncd"}}')
    result = ws.run("once", check=False)
    line = one_error_line(result)
    assert result.returncode == 1 and "cannot connect to the state database" in line, line
    assert "Pw-5" not in line and ":***@" in line


def test_doctor_lists_and_quarantines_a_bad_row_in_the_postgresql_state(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.url(postgres_server.new_database())
    ws = Workspace(tmp_path, state=f'{{url: "{url}"}}')
    ws.put("a1", "Intro session", datetime.now(UTC) + timedelta(days=1))
    ws.run("once")
    with psycopg.connect(url, autocommit=True) as raw:
        raw.execute("UPDATE bookings SET phase = 'teleported'")
    listed = ws.run("doctor", check=False)
    assert listed.returncode == 1 and "phase 'teleported'" in listed.stdout, listed.stdout
    assert ws.run("doctor", "--quarantine").returncode == 0
    again = ws.run("doctor").stdout
    assert "every booking record can be read" in again and "holds 1 record" in again
