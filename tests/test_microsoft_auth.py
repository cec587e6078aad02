"""`syncd auth microsoft` (msal's device-code flow against the fake sign-in service over TLS),
the 0600 token cache, silent refresh, and the one-line errors of a refused sign-in."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from syncd.config import load_settings
from syncd.errors import AuthError, AuthExpired
from syncd.microsoft.auth import TokenSource, scopes_for
from tests.fakegraph import USER, FakeGraph
from tests.fakegraph.fixtures import graph_fixture, graph_server_fixture, write_workspace  # noqa: F401
from tests.support import run_in_process


def sign_in(config: Path) -> tuple[int, str, str]:
    result = run_in_process(["--config", str(config), "auth", "microsoft"], {})
    return result.returncode, result.stdout, result.stderr


def test_device_login_prints_the_code_and_the_scopes_and_saves_a_private_cache(
    graph: FakeGraph, tmp_path: Path
) -> None:
    config = write_workspace(tmp_path, graph)
    code, out, err = sign_in(config)
    assert code == 0, err
    assert "https://microsoft.com/devicelogin" in out
    assert "enter the code" in out
    assert "Calendars.ReadWrite" in out and "Mail.ReadWrite" in out  # both backends are Outlook
    assert f"Signed in as {USER}" in out
    cache = tmp_path / "microsoft-token.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert "refresh_token" not in out and "rt-" not in out  # no secret printed


def test_only_the_scopes_of_configured_backends_are_asked(graph: FakeGraph, tmp_path: Path) -> None:
    config = write_workspace(tmp_path, graph, drafts="{type: maildir, path: Mail/Drafts}")
    settings = load_settings(config)
    assert [s.rsplit("/", 1)[1] for s in scopes_for(settings)] == ["Calendars.ReadWrite"]
    code, out, _ = sign_in(config)
    assert code == 0 and "Mail.ReadWrite" not in out


def test_silent_token_is_refreshed_and_the_cache_saved_again(graph: FakeGraph, tmp_path: Path) -> None:
    config = write_workspace(tmp_path, graph)
    assert sign_in(config)[0] == 0
    cache = tmp_path / "microsoft-token.json"
    before = json.loads(cache.read_text())
    tokens = TokenSource(load_settings(config))
    first = tokens()
    assert first in graph.login.access  # the cached access token, no refresh
    assert not graph.requests_to("/oauth2/v2.0/token$")[1:]  # only the device-code poll
    fresh = tokens(force_refresh=True)
    assert fresh != first and fresh in graph.login.access
    after = json.loads(cache.read_text())
    assert after["RefreshToken"] != before["RefreshToken"]  # the rolled refresh token is kept
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_revoked_sign_in_is_one_line_telling_to_sign_in_again(graph: FakeGraph, tmp_path: Path) -> None:
    config = write_workspace(tmp_path, graph)
    assert sign_in(config)[0] == 0
    graph.login.revoke_all()
    with pytest.raises(AuthExpired) as caught:
        TokenSource(load_settings(config))(force_refresh=True)
    message = str(caught.value)
    assert "invalid_grant" in message and "run `syncd auth microsoft` again" in message
    assert "\n" not in message


def test_missing_cache_says_to_sign_in_first(graph: FakeGraph, tmp_path: Path) -> None:
    config = write_workspace(tmp_path, graph)
    with pytest.raises(AuthError, match="run `syncd auth microsoft` first"):
        TokenSource(load_settings(config))()


def test_declined_sign_in_exits_non_zero_with_one_line(graph: FakeGraph, tmp_path: Path) -> None:
    config = write_workspace(tmp_path, graph)
    graph.login.next_outcome = "decline"
    code, _, err = sign_in(config)
    assert code != 0
    assert err.strip().count("\n") == 0 and "authorization_declined" in err
    assert not (tmp_path / "microsoft-token.json").exists()


def test_outlook_without_client_id_is_a_config_error(graph: FakeGraph, tmp_path: Path) -> None:
    config = write_workspace(tmp_path, graph)
    config.write_text(config.read_text().replace("client_id:", "tenant: common\n  #"), encoding="utf-8")
    result = run_in_process(["--config", str(config), "check-config"], {})
    assert result.returncode != 0
    assert "microsoft.client_id is required" in result.stderr


@pytest.mark.slow
def test_device_login_waits_while_the_sign_in_is_pending(graph: FakeGraph, tmp_path: Path) -> None:
    """msal polls at the interval the service gives (1 s here) until the coach signs in."""
    config = write_workspace(tmp_path, graph)
    graph.login.next_pending = 1
    code, _, err = sign_in(config)
    assert code == 0, err
    assert len(graph.requests_to("/oauth2/v2.0/token$")) == 2


def test_unreachable_sign_in_service_is_one_line(graph: FakeGraph, tmp_path: Path) -> None:
    config = write_workspace(tmp_path, graph)
    config.write_text(config.read_text().replace(graph.authority, "https://127.0.0.1:9"), encoding="utf-8")
    code, _, err = sign_in(config)
    assert code != 0
    assert "cannot reach the Microsoft sign-in service" in err and "Traceback" not in err


def test_msal_is_not_imported_without_an_outlook_backend() -> None:
    """A daemon on local folders never loads msal or the Graph client."""
    import subprocess
    import sys

    code = "import sys, syncd.cli, syncd.engine, syncd.daemon; print('msal' in sys.modules, 'syncd.microsoft.graph' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
