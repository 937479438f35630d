from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cityhub.settings import PLACEHOLDER_SECRET, Settings, settings_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_and_docs_are_current() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no help text"
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_markdown(), \
        "docs/settings.md is stale: run `python -m cityhub.settings > docs/settings.md`"


@pytest.mark.parametrize("env", ["production", "test"])
def test_placeholder_secret_refused_outside_development(env: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(env=env, secret_key=PLACEHOLDER_SECRET)
    assert Settings(env=env, secret_key="a-real-secret-of-enough-length").env == env


def test_development_allows_placeholder_and_defaults_to_sqlite(tmp_path: Path) -> None:
    s = Settings(env="development", home=tmp_path, database_url="")
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'cityhub.db').resolve()}"


def test_short_secret_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(env="production", secret_key="short")
