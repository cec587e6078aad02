"""A throw-away PostgreSQL server for the tests: initdb + pg_ctl on a temp folder and a free port.

One server per test session (per xdist worker), one fresh database per test that asks for it.
The server keeps nothing worth keeping, so it runs with fsync off. Local (unix socket)
connections are trusted; TCP ones need the password, so a test can check that syncd sends
the one from a `password_file`.

initdb refuses to run as root, so under root (CI, this machine) the server runs as the
`postgres` user (or `nobody`), and its folder is made theirs.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "syncd_test"
PASSWORD = "s3cret-Test-Pw"  # a throw-away test server's


def server_binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: on PATH, else Debian's
    /usr/lib/postgresql/<version>/bin (newest first); None when there is no server at all."""
    on_path = [shutil.which(name) for name in ("initdb", "pg_ctl", "postgres")]
    if all(on_path):
        # Debian's /usr/bin wrappers (pg_wrapper) pick a cluster: use the real folder.
        return Path(os.path.realpath(str(on_path[0]))).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]), reverse=True
    )
    return Path(found[0]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The user the server runs as: None (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and no `postgres` or `nobody` user to run PostgreSQL as")


@dataclass
class PostgresServer:
    """A running server: its folder, socket directory and port."""

    folder: Path
    port: int
    user: pwd.struct_passwd | None
    bin_dir: Path
    _databases: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def socket_dir(self) -> Path:
        return self.folder / "sock"

    def url(self, database: str = "postgres") -> str:
        """A URL over the unix socket (trusted: no password needed)."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def tcp_url(self, database: str) -> str:
        """A URL over TCP without the password (the server asks for one)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database's name."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._databases)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return name

    def _command(self, *args: str) -> subprocess.CompletedProcess[str]:
        user = self.user
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            cwd=self.folder,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self) -> None:
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        self.socket_dir.mkdir()
        if self.user:
            for path in (self.folder, pwfile, self.socket_dir):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        init = self._command(
            "initdb", "-D", "data", "-U", SUPERUSER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_buffers=16MB",
                "-c max_connections=60",
            ]
        )
        started = self._command("pg_ctl", "-D", "data", "-l", "server.log", "-o", options, "-w", "start")
        if started.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {tail}")

    def stop(self) -> None:
        self._command("pg_ctl", "-D", "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server() -> PostgresServer | None:
    """A running server in a new temp folder, or None when no PostgreSQL server is installed."""
    bin_dir = server_binaries()
    if bin_dir is None:
        return None
    # Not under pytest's tmp_path: its parents are private to root, and the server may run as
    # another user. /dev/shm when there is one (the data never needs to reach a disk).
    parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="syncd-pg-", dir=parent))
    server = PostgresServer(folder=folder, port=_free_port(), user=_run_as(), bin_dir=bin_dir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
