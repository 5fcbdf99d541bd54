"""Console entry point: `grid-console` serves the operators' web console."""

from __future__ import annotations

import uvicorn

from services.console.bootstrap import create_app
from services.console.settings import ConsoleSettings
from shared.structured_logging import configure


def run() -> None:
    settings = ConsoleSettings()
    configure("console", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    run()
