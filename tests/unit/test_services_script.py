"""`make up` gives an installation its own random signing key, once, readable only by its owner."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "native" / "services.sh"


def run_secrets(run_dir: Path) -> None:
    env = {**os.environ, "GRID_RUN_DIR": str(run_dir)}
    subprocess.run([str(SCRIPT), "secrets"], env=env, check=True, capture_output=True, timeout=60)


def key_in(path: Path) -> str:
    lines = [line for line in path.read_text().splitlines() if line.startswith("GRID_ID_SIGNING_KEY=")]
    assert len(lines) == 1
    return lines[0].partition("=")[2]


def test_the_key_is_random_long_private_and_created_once(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    run_secrets(first)
    key = key_in(first / "secrets.env")
    run_secrets(first)
    run_secrets(second)

    assert len(key) >= 32
    assert key_in(first / "secrets.env") == key  # kept: ids and tokens already issued stay valid
    assert key_in(second / "secrets.env") != key  # one per installation
    assert stat.S_IMODE((first / "secrets.env").stat().st_mode) == 0o600
