"""Every bad config is refused by the real command with one short line naming file and key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def edit(ws: Workspace, old: str, new: str) -> None:
    text = ws.config.read_text()
    assert old in text, old
    ws.config.write_text(text.replace(old, new, 1))


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit code 2 and exactly one stderr line holding every `expected` piece, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for piece in expected:
        assert piece in lines[0], (piece, lines[0])


CASES = [
    ("yaml-syntax", "poll_interval: 1s", "poll_interval: [1s", "line "),
    ("unknown-top-key", "poll_interval: 1s", "poll_intervall: 1s", "poll_intervall: unknown key"),
    ("unknown-nested-key", "delay: 15m", "dealy: 15m", "coaches[0].drafts.dealy: unknown key"),
    (
        "bad-regex",
        "reminder: 5m",
        "reminder: 5m\n    match: {title: '(intro'}",
        "coaches[0].match.title: bad regular",
    ),
    ("bad-duration", "poll_interval: 1s", "poll_interval: soon", "poll_interval: not a duration"),
    ("zero-interval", "poll_interval: 1s", "poll_interval: 0s", "poll_interval: must be longer"),
    ("bad-zone", "Europe/Berlin", "Mars/Olympus", "coaches[0].timezone: unknown time zone"),
    # A region of the zone database is a folder: ZoneInfo raises an OSError for it, not a ValueError.
    ("zone-region", "Europe/Berlin", "Europe", "coaches[0].timezone: unknown time zone"),
    ("bad-email", "email: ada@coach.example", "email: ada-at-coach", "coaches[0].email: not an email"),
    ("bad-url", "https://ada.example/pricing", "ada.example/pricing", "coaches[0].pricing_url: not an http"),
    ("missing-key", "    pricing_url: https://ada.example/pricing\n", "", "coaches[0].pricing_url: required"),
    ("missing-folder", "path: calendar}", "path: no-such-folder}", "coaches[0].calendar.path: folder"),
    ("unknown-type", "type: vdir", "type: exchange", "coaches[0].calendar: unknown type 'exchange'"),
    (
        "missing-template",
        "path: notes}",
        "path: notes, template: nope.j2}",
        "coaches[0].notes.template: file",
    ),
    ("bad-collection", "path: notes}", "path: notes, collection: ../x}", "coaches[0].notes.collection"),
    # Durations too long for a date: an OverflowError traceback, or a config that check-config
    # passed and `once` then crashed on.
    ("huge-delay", "delay: 15m", "delay: 99999999999d", "coaches[0].drafts.delay: too long"),
    ("huge-lookback", "lookback: 2d", "lookback: 999999999d", "lookback: too long"),
    ("infinite-interval", "poll_interval: 1s", "poll_interval: .inf", "poll_interval: too long"),
    # "google" is also a calendar type: the key path must keep it here.
    ("google-key", "poll_interval: 1s", "poll_interval: 1s\ngoogle: {port: 80}", ": google.port: Input"),
    (
        "google-unknown-key",
        "poll_interval: 1s",
        "poll_interval: 1s\ngoogle: {prot: 8080}",
        ": google.prot: unknown",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_gives_one_clear_line_and_exit_2(
    ws: Workspace, name: str, old: str, new: str, expected: str
) -> None:
    edit(ws, old, new)
    for command in ("check-config", "once"):
        assert_one_line(ws.run(command, check=False), str(ws.config), expected)


def test_template_with_a_syntax_error_is_named_with_its_line(ws: Workspace) -> None:
    template = ws.root / "note.md.j2"
    template.write_text("# {{ client.name }}\n{% if %}\n")
    edit(ws, "path: notes}", f"path: notes, template: {template}}}")
    for command in ("check-config", "once"):
        result = ws.run(command, check=False)
        assert_one_line(result, str(ws.config), "coaches[0].notes.template", f"template {template}, line 2:")


def test_followup_template_without_a_subject_line_is_refused_by_check_config(ws: Workspace) -> None:
    template = ws.root / "followup.txt.j2"
    template.write_text("Hey {{ client.first_name }}!\n\nThanks for the call.\n")
    edit(ws, "path: Mail/Drafts,", f"path: Mail/Drafts, template: {template},")
    for command in ("check-config", "once"):
        assert_one_line(
            ws.run(command, check=False),
            str(ws.config),
            "coaches[0].drafts.template",
            f"template {template}, line 1: the first line must be 'Subject: ...'",
        )


def test_followup_template_with_a_subject_line_passes_check_config(ws: Workspace) -> None:
    template = ws.root / "followup.txt.j2"
    template.write_text("Subject: Thanks, {{ client.first_name }}\n\nHey {{ client.first_name }}!\n")
    edit(ws, "path: Mail/Drafts,", f"path: Mail/Drafts, template: {template},")
    assert "OK" in ws.run("check-config").stdout


def test_several_problems_are_reported_together(ws: Workspace) -> None:
    edit(ws, "Europe/Berlin", "Nowhere/City")
    edit(ws, "poll_interval: 1s", "poll_interval: often")
    result = ws.run("check-config", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"syncd: config error: {ws.config}: poll_interval: not a duration: 'often' (use e.g. 30s, 15m, 2h, 7d)",
        f"{ws.config}: coaches[0].timezone: unknown time zone 'Nowhere/City' (use an IANA name like Europe/Berlin)",
    ]


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.config.unlink()
    for command in ("check-config", "once", "run", "status"):
        assert_one_line(ws.run(command, check=False), str(ws.config), "config file not found")


def test_good_config_is_summarised(ws: Workspace) -> None:
    result = ws.run("check-config")
    assert "OK" in result.stdout and "ada@coach.example" in result.stdout and "vdir" in result.stdout


def test_the_annotated_example_config_is_valid(tmp_path: Path) -> None:
    """config/syncd.example.yaml stays true: with its folders made, check-config accepts it."""
    from tests.support import REPO

    text = (REPO / "config" / "syncd.example.yaml").read_text()
    for folder in ("~/calendars/coaching", "~/notes", "~/Mail/Drafts", "~/.local/state/syncd"):
        local = tmp_path / folder.strip("~/").replace("/", "-")
        local.parent.mkdir(parents=True, exist_ok=True)
        if folder != "~/Mail/Drafts":
            local.mkdir()
        text = text.replace(folder, str(local))
    ws = Workspace(tmp_path / "ws")
    ws.config.write_text(text)
    result = ws.run("check-config", check=False)
    assert result.returncode == 0, result.stderr
    assert "ada@example.com" in result.stdout


MORE_CASES = [
    (
        "duplicate-key",
        "poll_interval: 1s",
        "poll_interval: 1s\npoll_interval: 2s",
        "key 'poll_interval' is given twice",
    ),
    (
        "missing-type",
        "calendar: {type: vdir, path: calendar}",
        "calendar: {path: calendar}",
        "coaches[0].calendar: required key 'type' is missing",
    ),
    (
        "list-for-mapping",
        "calendar: {type: vdir, path: calendar}",
        "calendar: [vdir, calendar]",
        "coaches[0].calendar: expected a mapping",
    ),
    # check-config said OK, then every pass failed to open the state database.
    ("state-dir-is-a-file", "state_dir: state", "state_dir: syncd.yaml", "state_dir: "),
]


@pytest.mark.parametrize(("name", "old", "new", "expected"), MORE_CASES, ids=[c[0] for c in MORE_CASES])
def test_structural_mistakes_are_explained_in_plain_words(
    ws: Workspace, name: str, old: str, new: str, expected: str
) -> None:
    edit(ws, old, new)
    for command in ("check-config", "once"):
        assert_one_line(ws.run(command, check=False), str(ws.config), expected)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "expected a mapping of settings at the top level"),
        (b"- coaches\n", "expected a mapping of settings at the top level"),
        (b"state_dir: \xff\xfe\n", "cannot read: 'utf-8' codec can't decode"),
    ],
    ids=["empty", "a-list", "not-utf-8"],
)
def test_a_config_file_that_is_no_mapping_is_one_line(ws: Workspace, content: bytes, expected: str) -> None:
    ws.config.write_bytes(content)
    for command in ("check-config", "once"):
        assert_one_line(ws.run(command, check=False), str(ws.config), expected)


def test_misspelt_environment_override_is_refused(ws: Workspace) -> None:
    ws.env["SYNCD_LOOKBAK"] = "1d"
    for command in ("check-config", "once"):
        assert_one_line(ws.run(command, check=False), "environment variable SYNCD_LOOKBAK: unknown setting")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "SYNCD_POLL_INTERVAL",
            "nonsense",
            "environment variable SYNCD_POLL_INTERVAL: not a duration: 'nonsense'",
        ),
        ("SYNCD_GOOGLE__PORT", "abc", "environment variable SYNCD_GOOGLE__PORT: "),
        ("syncd_lookback", "soon", "environment variable syncd_lookback: not a duration"),
    ],
    ids=["top-level", "nested", "lower-case"],
)
def test_a_bad_environment_override_is_named_by_its_variable(
    ws: Workspace, name: str, value: str, expected: str
) -> None:
    ws.env[name] = value
    for command in ("check-config", "once"):
        result = ws.run(command, check=False)
        assert_one_line(result, expected)
        assert "poll_interval:" not in result.stderr and "google.port" not in result.stderr


def test_coaches_cannot_be_replaced_from_the_environment(ws: Workspace) -> None:
    ws.env["SYNCD_COACHES"] = "[]"
    for command in ("check-config", "once"):
        assert_one_line(
            ws.run(command, check=False),
            "environment variable SYNCD_COACHES: coaches are set in the config file only",
        )


def test_a_folder_given_as_config_is_named_as_such(ws: Workspace) -> None:
    for command in ("check-config", "once"):
        assert_one_line(ws.run("--config", str(ws.root), command, check=False), f"{ws.root}: is a folder")
