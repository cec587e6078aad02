"""A coach's own `google:` / `microsoft:` section in the config: what it inherits from the
top-level one, where its token goes by default, and the mistakes `check-config` names."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.accounts import account_dir, for_coach, google_settings, microsoft_settings
from syncd.config import load_settings
from syncd.errors import ConfigError
from syncd.google.auth import token_path
from syncd.microsoft.auth import authority_url, token_cache_path

TOP = """\
state_dir: state
google:
  client_secrets: platform-client.json
  port: 8800
  token_uri: https://token.example/token
microsoft:
  client_id: platform-app
  tenant: platform.example
coaches:
"""


def coach(
    email: str, account: str = "", calendar: str = "{type: google}", drafts: str = "{type: gmail}"
) -> str:
    text = (
        f"  - name: Coach\n    email: {email}\n    timezone: Europe/Berlin\n"
        f"    pricing_url: https://c.example/pricing\n    calendar: {calendar}\n"
        f"    notes: {{type: markdown, path: notes}}\n    drafts: {drafts}\n"
    )
    return text + "".join(f"    {line}\n" for line in account.splitlines())


def write(tmp_path: Path, *coaches: str) -> Path:
    (tmp_path / "notes").mkdir(exist_ok=True)
    config = tmp_path / "syncd.yaml"
    config.write_text(TOP + "".join(coaches))
    return config


def test_a_coach_section_inherits_what_it_does_not_give_and_keeps_its_token_apart(tmp_path: Path) -> None:
    """Keys not given come from the top-level section; the token is the coach's own, in
    state_dir/accounts/<email>/ unless the section names one (relative to the config)."""
    config = write(
        tmp_path,
        coach("ada@coach.test", "google: {port: 8901}"),
        coach("bob@coach.test", "google: {token: tokens/bob.json}"),
        coach("cid@coach.test"),
    )
    settings = load_settings(config)
    ada, bob, cid = (google_settings(settings, c) for c in settings.coaches)
    assert ada.google.port == 8901 and ada.google.token_uri == "https://token.example/token"
    assert ada.google.client_secrets == tmp_path / "platform-client.json"
    assert token_path(ada) == tmp_path / "state" / "accounts" / "ada@coach.test" / "google-token.json"
    assert token_path(bob) == tmp_path / "tokens" / "bob.json" and bob.google.port == 8800
    assert cid is settings and token_path(cid) == tmp_path / "state" / "google-token.json"


def test_a_microsoft_section_inherits_the_app_and_tenant(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        coach("ada@coach.test", "microsoft: {}", calendar="{type: outlook}", drafts="{type: outlook}"),
        coach("bob@coach.test", "microsoft: {tenant: other.example}", calendar="{type: outlook}"),
    )
    settings = load_settings(config)
    ada, bob = (microsoft_settings(settings, c) for c in settings.coaches)
    assert ada.microsoft.client_id == "platform-app" and authority_url(ada).endswith("/platform.example")
    assert authority_url(bob).endswith("/other.example")
    assert (
        token_cache_path(ada) == tmp_path / "state" / "accounts" / "ada@coach.test" / "microsoft-token.json"
    )


def test_a_client_id_given_only_by_the_coach_is_enough(tmp_path: Path) -> None:
    config = write(
        tmp_path, coach("ada@coach.test", "microsoft: {client_id: ada-app}", calendar="{type: outlook}")
    )
    config.write_text(config.read_text().replace("  client_id: platform-app\n", ""))
    settings = load_settings(config)
    assert microsoft_settings(settings, settings.coaches[0]).microsoft.client_id == "ada-app"


def test_two_accounts_naming_one_token_file_are_refused(tmp_path: Path) -> None:
    """Two sign-ins writing one file would each undo the other's: check-config says so."""
    config = write(
        tmp_path,
        coach("ada@coach.test", "google: {token: shared.json}"),
        coach("bob@coach.test", "google: {token: shared.json}"),
    )
    with pytest.raises(
        ConfigError,
        match=r"coach bob@coach\.test: google token file .*shared\.json is also coach ada@coach\.test's",
    ):
        load_settings(config)


def test_an_unknown_key_in_a_coach_section_is_named(tmp_path: Path) -> None:
    config = write(tmp_path, coach("ada@coach.test", "google: {tokn: x.json}"))
    with pytest.raises(ConfigError, match=r"coaches\[0\]\.google\.tokn: unknown key"):
        load_settings(config)


def test_a_coach_file_in_coaches_dir_may_carry_its_own_account(tmp_path: Path) -> None:
    """A coaches_dir file's `google.token` is relative to that file, like its other paths."""
    (tmp_path / "coaches.d" / "notes").mkdir(parents=True)
    (tmp_path / "coaches.d" / "bea.yaml").write_text(
        coach("bea@coach.test", "google: {token: bea-token.json}")
        .replace("  - name", "name")
        .replace("\n    ", "\n")
    )
    config = write(tmp_path, coach("ada@coach.test"))
    config.write_text(config.read_text().replace("coaches:", "coaches_dir: coaches.d\ncoaches:"))
    settings = load_settings(config)
    bea = settings.coaches[1]
    assert token_path(google_settings(settings, bea)) == tmp_path / "coaches.d" / "bea-token.json"


def test_the_account_folder_of_an_odd_address_stays_in_accounts(tmp_path: Path) -> None:
    """An address may hold `/`: its folder is one name under accounts/, never elsewhere."""
    folder = account_dir(tmp_path, "../../etc/x@y.test")
    assert folder.parent == tmp_path / "accounts" and "/" not in folder.name


def test_the_sign_in_command_in_an_error_names_the_coach_only_for_its_own_account(tmp_path: Path) -> None:
    config = write(tmp_path, coach("ada@coach.test", "google: {}"), coach("bob@coach.test"))
    ada, bob = load_settings(config).coaches
    message = "Google refused the stored refresh token (invalid_grant); run `syncd auth google` again"
    assert for_coach(message, ada).endswith("run `syncd auth google --coach ada@coach.test` again")
    assert for_coach(message, bob) == message


def test_check_config_shows_which_coaches_have_their_own_account(tmp_path: Path) -> None:
    from tests.support import run_in_process

    (tmp_path / "platform-client.json").write_text("{}")
    config = write(tmp_path, coach("ada@coach.test", "google: {}"), coach("bob@coach.test"))
    result = run_in_process(["--config", str(config), "check-config"], {})
    assert result.returncode == 0, result.stderr
    token = tmp_path / "state" / "accounts" / "ada@coach.test" / "google-token.json"
    assert f"google account: the coach's own, token {token}" in result.stdout
    assert result.stdout.count("account: the coach's own") == 1
