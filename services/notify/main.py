"""Console entry point: `grid-notify`."""

from __future__ import annotations

import uvicorn

from services.notify.api import create_app
from services.notify.settings import NotifySettings
from shared.structured_logging import configure


def run() -> None:
    settings = NotifySettings()
    configure("notify", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_ping_interval=settings.heartbeat_seconds,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    run()
