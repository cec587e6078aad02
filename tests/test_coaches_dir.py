"""`coaches_dir:`: one YAML file per coach beside (or instead of) the `coaches:` list, checked
like the main file, each problem naming the coach's file and key; SIGHUP picks up a coach
file added while the daemon runs."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.config import default_concurrency, load_settings
from syncd.errors import ConfigError
from tests.support import NotifySocket, Workspace, event_ics, wait_for


def coach_yaml(email: str, folder: str = "..", **replace: str) -> str:
    fields = {
        "name": "Bea Coach",
        "email": email,
        "timezone": "Europe/Berlin",
        "pricing_url": "https://bea.example/pricing",
        "calendar": f"{{type: vdir, path: {folder}/bcal}}",
        "notes": f"{{type: markdown, path: {folder}/bnotes}}",
        "drafts": f"{{type: maildir, path: {folder}/bMail}}",
    }
    fields.update(replace)
    return "".join(f"{key}: {value}\n" for key, value in fields.items() if value)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """The usual one-coach workspace, plus folders for a second coach and a coaches.d."""
    for sub in ("bcal", "bnotes", "bMail", "coaches.d"):
        (tmp_path / sub).mkdir()
    workspace = Workspace(tmp_path)
    workspace.config.write_text(
        workspace.config.read_text().replace("coaches:", "coaches_dir: coaches.d\ncoaches:")
    )
    return workspace


def test_coach_files_join_the_main_list_with_paths_relative_to_their_file(ws: Workspace) -> None:
    """A coach file's relative paths are taken from its own folder; hidden files and other
    suffixes are not coaches; the coaches come after those of `coaches:`, in file name order."""
    (ws.root / "coaches.d" / "bea.yaml").write_text(coach_yaml("bea@coach.example"))
    (ws.root / "coaches.d" / "cid.yml").write_text(coach_yaml("cid@coach.example", name="Cid"))
    (ws.root / "coaches.d" / ".bea.yaml.swp").write_text("not: yaml: at all")
    (ws.root / "coaches.d" / "README").write_text("one coach per file")
    settings = load_settings(ws.config)
    assert [c.email for c in settings.coaches] == [
        "ada@coach.example",
        "bea@coach.example",
        "cid@coach.example",
    ]
    assert settings.coaches[1].calendar.path.resolve() == (ws.root / "bcal").resolve()  # type: ignore[union-attr]


def test_every_problem_of_every_coach_file_is_named_by_file_and_key(ws: Workspace) -> None:
    folder = ws.root / "coaches.d"
    (folder / "a-typo.yaml").write_text(
        coach_yaml("typo@coach.example", timezone="", timezon="Europe/Berlin")
    )
    (folder / "b-list.yaml").write_text("- name: x\n")
    (folder / "c-broken.yaml").write_text("name: [unclosed\n")
    (folder / "d-ada-again.yaml").write_text(coach_yaml("ADA@coach.example"))
    (folder / "e-empty.yaml").write_text("")
    with pytest.raises(ConfigError) as caught:
        load_settings(ws.config)
    lines = str(caught.value).splitlines()
    assert f"{folder / 'a-typo.yaml'}: timezone: required key is missing" in lines
    assert f"{folder / 'a-typo.yaml'}: timezon: unknown key (check its spelling)" in lines
    assert any(line.startswith(f"{folder / 'b-list.yaml'}: expected one coach's settings") for line in lines)
    assert any(line.startswith(f"{folder / 'c-broken.yaml'}: line ") for line in lines), lines
    assert (
        f"{folder / 'd-ada-again.yaml'}: email: coach ada@coach.example is also in the config file's coaches:"
        in lines
    )
    assert (
        f"{folder / 'e-empty.yaml'}: expected one coach's settings (name: ..., email: ...), not an empty file"
        in lines
    )
    assert len(lines) == 6, lines


def test_coaches_dir_alone_is_enough_and_a_missing_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "coaches.d").mkdir()
    for sub in ("bcal", "bnotes", "bMail"):
        (tmp_path / sub).mkdir()
    config = tmp_path / "syncd.yaml"
    config.write_text("state_dir: state\ncoaches_dir: coaches.d\n")
    (tmp_path / "coaches.d" / "bea.yaml").write_text(coach_yaml("bea@coach.example"))
    assert [c.email for c in load_settings(config).coaches] == ["bea@coach.example"]
    config.write_text("state_dir: state\ncoaches_dir: nowhere.d\n")
    with pytest.raises(ConfigError, match=r"syncd.yaml: coaches_dir: folder .*nowhere.d does not exist"):
        load_settings(config)


def test_concurrency_defaults_to_twice_the_cpus_at_most_8_and_is_bounded(ws: Workspace) -> None:
    assert 4 <= default_concurrency() <= 16
    assert load_settings(ws.config).concurrency == default_concurrency()
    ws.config.write_text(ws.config.read_text() + "concurrency: 0\n")
    with pytest.raises(ConfigError, match="concurrency: Input should be greater than or equal to 1"):
        load_settings(ws.config)


def test_metrics_listen_must_be_host_and_port(ws: Workspace) -> None:
    base = ws.config.read_text()
    ws.config.write_text(base + "metrics: {listen: localhost}\n")
    with pytest.raises(ConfigError, match=r"metrics.listen: .*expected HOST:PORT"):
        load_settings(ws.config)
    ws.config.write_text(base + "metrics: {}\n")
    assert load_settings(ws.config).metrics.listen == "127.0.0.1:9464"  # type: ignore[union-attr]


@pytest.mark.slow
def test_sighup_picks_up_a_coach_file_added_while_running(ws: Workspace) -> None:
    """A coach file dropped into coaches_dir and a SIGHUP: the new coach's booking gets its
    note without a restart; a broken coach file on the next SIGHUP is refused in one line
    naming the file, and the daemon runs on with the coaches it had."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    ws.put("ada-1", "Intro session", start)
    bea = event_ics("bea-1", "Intro session", start).replace("ada@coach.example", "bea@coach.example")
    (ws.root / "bcal" / "bea-1.ics").write_text(bea)
    notify = NotifySocket()
    ws.env["NOTIFY_SOCKET"] = notify.address
    log = ws.root / "run.log"
    process = ws.start("run", log=log)
    try:
        notify.wait_for(lambda m: "1 booking tracked" in m)
        (ws.root / "coaches.d" / "bea.yaml").write_text(coach_yaml("bea@coach.example"))
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: list((ws.root / "bnotes").rglob("*.md")), timeout=20), log.read_text()
        (ws.root / "coaches.d" / "zed.yaml").write_text("name: [\n")
        mark = len(notify.drain())
        process.send_signal(signal.SIGHUP)
        notify.wait_for(lambda m: "reload failed" in m, after=mark)
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    text = log.read_text()
    assert process.returncode == 0, text
    [refused] = [line for line in text.splitlines() if "reload failed" in line]
    assert "zed.yaml: line 2, column 1: YAML syntax error" in refused
    assert "reloaded" in text and "2 coach(es)" in text
