"""`make up`'s banner prints demo keys that work: kept ones are checked against the database and recreated
when it no longer knows them (after a reset), never printed dead. `make test` installs the browser first."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DEAD = {"CLIENT_KEY": "gsp_00000000000000aa_gone", "OPERATOR_KEY": "gsp_00000000000000bb_gone"}


def banner(run_dir: Path, platform_env: dict[str, str]) -> str:
    env = {**os.environ, **platform_env, "GRID_RUN_DIR": str(run_dir), "GRID_VENV": str(ROOT / ".venv")}
    result = subprocess.run(
        [str(ROOT / "deploy" / "native" / "demo-banner.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def kept(run_dir: Path) -> dict[str, str]:
    lines = (run_dir / "demo-keys.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


async def test_dead_demo_keys_are_replaced_and_live_ones_kept(
    tmp_path: Path, platform_env: dict[str, str], db: AsyncDatabase[Document]
) -> None:
    keys = ApiKeyRepository(db)
    live_operator = await keys.create(district_id="chengzhong", role=Role.OPERATOR, subject="kept")
    (tmp_path / "demo-keys.env").write_text(f"CLIENT_KEY={DEAD['CLIENT_KEY']}\nOPERATOR_KEY={live_operator}\n")

    printed = banner(tmp_path, platform_env)
    now = kept(tmp_path)

    assert now["OPERATOR_KEY"] == live_operator  # still valid: kept
    assert now["CLIENT_KEY"] != DEAD["CLIENT_KEY"]
    assert await keys.authenticate(now["CLIENT_KEY"]) is not None
    assert DEAD["CLIENT_KEY"] not in printed and now["CLIENT_KEY"] in printed
    assert (tmp_path / "demo-keys.env").stat().st_mode & 0o077 == 0


async def test_a_first_run_creates_both(
    tmp_path: Path, platform_env: dict[str, str], db: AsyncDatabase[Document]
) -> None:
    banner(tmp_path, platform_env)
    for key in kept(tmp_path).values():
        assert await ApiKeyRepository(db).authenticate(key) is not None


def test_make_test_installs_the_browser_first() -> None:
    database = subprocess.run(["make", "-pn", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    (rule,) = [line for line in database.splitlines() if line.startswith("test:")]
    assert "browser-deps" in rule.split(":", 1)[1]
