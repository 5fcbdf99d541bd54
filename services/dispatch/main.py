"""Dispatch entry point: `grid-dispatch`."""

from __future__ import annotations

import uvicorn

from services.dispatch.api import create_app
from services.dispatch.settings import DispatchEngineSettings
from shared.structured_logging import configure


def run() -> None:
    settings = DispatchEngineSettings()
    configure("dispatch", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    run()
