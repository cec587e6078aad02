"""The shipped systemd units: valid (`systemd-analyze verify`) and hardened (exposure <= 2.0).

`verify` fails when a unit's ExecStart binary is missing, which it is on a build machine, so each
unit is checked as a temporary copy whose missing commands point at a stub executable. The
`systemd-analyze` tests skip only when the tool is absent (CI installs it with
.ci/install-systemd.sh); the text checks always run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parent.parent / "systemd"
MAX_EXPOSURE = 2.0
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


@dataclass(frozen=True)
class Unit:
    source: str  # path under systemd/
    name: str  # the unit name to check it as (an instance for the template)
    user: bool = False


UNITS = [
    Unit("syncd.service", "syncd.service"),
    Unit("syncd@.service", "syncd@.service"),
    Unit("syncd@.service", "syncd@team-berlin.service"),
    Unit("user/syncd.service", "syncd.service", user=True),
]
IDS = [f"{'user:' if u.user else ''}{u.name}" for u in UNITS]

_EXEC = re.compile(r"^(Exec\w+=)([-@:+!]*)(\S+)", re.MULTILINE)


def _stub_missing_commands(text: str, stub: Path) -> str:
    """Point every Exec*= command whose binary does not exist here at `stub`."""

    def replace(match: re.Match[str]) -> str:
        key, prefixes, command = match.groups()
        exists = "%" not in command and Path(command).is_file()
        return match.group(0) if exists else f"{key}{prefixes}{stub}"

    return _EXEC.sub(replace, text)


@pytest.fixture
def checkable(tmp_path: Path) -> dict[str, Path]:
    """Each unit copied under its unit name to its own folder, ready for systemd-analyze."""
    stub = tmp_path / "bin" / "syncd"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    paths = {}
    for unit, ident in zip(UNITS, IDS, strict=True):
        folder = tmp_path / ident.replace(":", "-")
        folder.mkdir()
        text = (UNITS_DIR / unit.source).read_text()
        (folder / unit.name).write_text(_stub_missing_commands(text, stub))
        paths[ident] = folder / unit.name
    return paths


def _analyze(unit: Unit, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    env = dict(os.environ, SYSTEMD_PAGER="", SYSTEMD_COLORS="0", LC_ALL="C.UTF-8")
    if not unit.user:
        return subprocess.run([ANALYZE, *args], capture_output=True, text=True, env=env, timeout=60)
    # The user manager looks up its runtime directory even offline. Socket units there (gpg-agent's)
    # need paths within AF_UNIX's 108 bytes: a short folder, not one under tmp_path (longer
    # under pytest-xdist).
    with tempfile.TemporaryDirectory(prefix="sd-") as runtime:
        env["XDG_RUNTIME_DIR"] = runtime
        return subprocess.run([ANALYZE, "--user", *args], capture_output=True, text=True, env=env, timeout=60)


@needs_analyze
@pytest.mark.parametrize(("unit", "ident"), list(zip(UNITS, IDS, strict=True)), ids=IDS)
def test_unit_verifies_clean(unit: Unit, ident: str, checkable: dict[str, Path], tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit without a single warning."""
    result = _analyze(unit, ["verify", "--man=no", str(checkable[ident])], tmp_path)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output == ""


@needs_analyze
@pytest.mark.parametrize(("unit", "ident"), list(zip(UNITS, IDS, strict=True)), ids=IDS)
def test_unit_exposure_at_most_2(unit: Unit, ident: str, checkable: dict[str, Path], tmp_path: Path) -> None:
    """`systemd-analyze security --offline=yes` rates the unit's exposure at 2.0 or lower."""
    args = ["security", "--offline=yes", "--no-pager", str(checkable[ident])]
    result = _analyze(unit, args, tmp_path)
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


def _settings(source: str) -> dict[str, list[str]]:
    """The unit's `Key=value` lines (all values per key, in order)."""
    settings: dict[str, list[str]] = {}
    for line in (UNITS_DIR / source).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize("source", sorted({u.source for u in UNITS}))
def test_unit_runs_syncd_as_notify_service_with_watchdog(source: str) -> None:
    """Each unit starts `syncd ... run` as Type=notify, with watchdog, reload and stop limits."""
    settings = _settings(source)
    assert settings["Type"] == ["notify"]
    assert settings["ExecStart"][0].endswith(" run")
    assert "--config" in settings["ExecStart"][0]
    assert settings["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert settings["Restart"] == ["on-failure"]
    assert "WatchdogSec" in settings
    assert "TimeoutStopSec" in settings
    assert any(v.startswith("SYNCD_STATE_DIR=%S/syncd") for v in settings["Environment"])


@pytest.mark.parametrize("source", sorted({u.source for u in UNITS}))
def test_unit_keeps_network_and_notify_reachable(source: str) -> None:
    """The sandbox still lets syncd reach HTTPS APIs (AF_INET/6) and the notify socket (AF_UNIX)."""
    settings = _settings(source)
    assert settings["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert settings.get("PrivateNetwork", ["no"]) == ["no"]
    assert "IPAddressAllow" not in settings


def test_template_instances_get_their_own_config_and_state() -> None:
    """syncd@NAME reads /etc/syncd/NAME.yaml and keeps its state in /var/lib/syncd/NAME."""
    settings = _settings("syncd@.service")
    assert "${CONFIGURATION_DIRECTORY}/%i.yaml" in settings["ExecStart"][0]
    assert settings["StateDirectory"] == ["syncd/%i"]
    assert any(v.startswith("SYNCD_STATE_DIR=%S/syncd/%i ") for v in settings["Environment"])
