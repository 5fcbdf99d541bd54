"""Outside development, no service starts with a public or short signing key; rotation keeps old ids valid."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.console.settings import ConsoleSettings
from services.dispatch.settings import DispatchEngineSettings
from services.notify.settings import NotifySettings
from shared.request_ids import access_token, issued_by_us, mint_request_id, valid_access_token
from shared.settings import DEVELOPMENT_SIGNING_KEY, IntakeSettings, PlatformSettings, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
STRONG = "k" * 16 + "0123456789abcdefghij"
SERVICE_SETTINGS: list[type[ServiceSettings]] = [
    IntakeSettings,
    DispatchEngineSettings,
    NotifySettings,
    ConsoleSettings,
]


@pytest.fixture(autouse=True)
def no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRID_ENVIRONMENT", "GRID_ID_SIGNING_KEY", "GRID_ID_SIGNING_KEYS_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("settings_class", SERVICE_SETTINGS)
@pytest.mark.parametrize(
    "key", [None, DEVELOPMENT_SIGNING_KEY, "change-me-in-production", "replace-with-a-long-random-secret", "short"]
)
def test_every_service_refuses_a_public_or_short_key_by_default(
    settings_class: type[ServiceSettings], key: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if key is not None:
        monkeypatch.setenv("GRID_ID_SIGNING_KEY", key)
    with pytest.raises(ValidationError, match="GRID_ID_SIGNING_KEY"):
        settings_class()


@pytest.mark.parametrize("settings_class", SERVICE_SETTINGS)
def test_a_strong_key_starts_and_development_mode_keeps_the_default_loudly(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GRID_ID_SIGNING_KEY", STRONG)
    assert settings_class().signing_key() == STRONG.encode()

    monkeypatch.delenv("GRID_ID_SIGNING_KEY")
    monkeypatch.setenv("GRID_ENVIRONMENT", "development")
    with caplog.at_level(logging.WARNING):
        assert settings_class().signing_key() == DEVELOPMENT_SIGNING_KEY.encode()
    assert "PUBLIC key" in caplog.text


def test_tools_that_sign_nothing_need_no_key() -> None:
    assert PlatformSettings().mongodb_database == "grid"


def test_a_service_process_exits_at_start_without_a_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRID_")}
    env["INTAKE_PORT"] = "1"  # never reached: the settings are refused first
    result = subprocess.run(
        [sys.executable, "-m", "services.intake.main"], env=env, cwd=ROOT, capture_output=True, timeout=60
    )
    assert result.returncode != 0
    assert b"GRID_ID_SIGNING_KEY" in result.stderr


def test_ids_and_tokens_of_the_previous_key_stay_valid_after_a_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = "old-" + STRONG, "new-" + STRONG
    request_id = mint_request_id(old.encode(), "chengzhong")
    token = access_token(old.encode(), request_id)
    monkeypatch.setenv("GRID_ID_SIGNING_KEY", new)
    monkeypatch.setenv("GRID_ID_SIGNING_KEYS_PREVIOUS", f"{old}, another-{STRONG}")
    settings = IntakeSettings()

    keys = settings.verification_keys()
    assert keys[0] == new.encode() and old.encode() in keys
    assert issued_by_us(keys, "chengzhong", request_id)
    assert valid_access_token(keys, request_id, token)
    assert not issued_by_us(new.encode(), "chengzhong", request_id)
    assert not valid_access_token(new.encode(), request_id, token)


@pytest.mark.parametrize("forged", ["", "²", "é" * 32, "0" * 32, "x" * 1000])
def test_forged_tokens_are_refused_without_an_error(forged: str) -> None:
    request_id = mint_request_id(STRONG.encode(), "chengzhong")
    assert not valid_access_token(STRONG.encode(), request_id, forged)
