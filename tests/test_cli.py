"""The CLI as an operator uses it (typer's runner, real store)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cityhub.cli.main import app
from tests.conftest import Store, call_as, unique

runner = CliRunner()


def test_help_everywhere() -> None:
    for args in ([], ["db"], ["demo"], ["user"], ["department"], ["token"], ["audit"], ["search"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_token_create_prints_a_working_token(demo: Store) -> None:
    result = runner.invoke(app, ["token", "create", "--user", "steward"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("ch_") and len(token) > 40
    actor = call_as("system", "token_resolve", {"token": token})
    assert actor.name == "steward"


def test_user_create_and_bad_input(demo: Store) -> None:
    ok = runner.invoke(app, ["user", "create", "cli_analyst", "--role", "analyst",
                             "--password", "Cli-user-passphrase-88"])
    assert ok.exit_code == 0, ok.output
    assert call_as("system", "user_show", {"name": "cli_analyst"})["role"] == "analyst"
    dup = runner.invoke(app, ["user", "create", "cli_analyst", "--password", "Cli-user-passphrase-88"])
    assert dup.exit_code == 2 and ("exists" in dup.output.lower() or "已存在" in dup.output)
    weak = runner.invoke(app, ["user", "create", "cli_weak", "--password", "123"])
    assert weak.exit_code == 2 and "password" in weak.output


def test_token_for_unknown_user(demo: Store) -> None:
    result = runner.invoke(app, ["token", "create", "--user", "nobody-here"])
    assert result.exit_code == 2 and "nobody-here" in result.output


def test_demo_load_is_idempotent_and_reindex_works(demo: Store) -> None:
    again = runner.invoke(app, ["demo", "load"])
    assert again.exit_code == 0 and "already" in again.output
    result = runner.invoke(app, ["search", "reindex"])
    assert result.exit_code == 0 and "indexed" in result.output
    assert call_as(None, "dataset_search", {"q": "空气质量"})["count"] >= 1


def test_user_totp_enable_and_disable(demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.accounts import totp

    name = unique("cli_mfa").replace("-", "_")
    assert runner.invoke(app, ["user", "create", name, "--password", "Cli-user-passphrase-99"]).exit_code == 0
    secret = totp.new_secret()
    monkeypatch.setattr(totp, "new_secret", lambda: secret)
    wrong = runner.invoke(app, ["user", "totp-enable", name, "--code", "000000"])
    assert wrong.exit_code == 2 and "Wrong one-time code" in wrong.output
    ok = runner.invoke(app, ["user", "totp-enable", name], input=totp.now_code(secret) + "\n")
    assert ok.exit_code == 0, ok.output
    assert "otpauth://totp/" in ok.output and "enabled" in ok.output
    assert call_as("system", "user_show", {"name": name})["totp_enabled"] is True
    assert runner.invoke(app, ["user", "totp-disable", name]).exit_code == 0
    assert call_as("system", "user_show", {"name": name})["totp_enabled"] is False
