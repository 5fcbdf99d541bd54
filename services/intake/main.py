"""Intake entry point: `grid-intake` serves the public API (see services/intake/api.py)."""

from __future__ import annotations

import uvicorn

from services.intake.api import create_app
from shared.settings import IntakeSettings
from shared.structured_logging import configure


def run() -> None:
    settings = IntakeSettings()
    configure("intake", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    run()
