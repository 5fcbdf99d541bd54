"""Notify entry point: `grid-notify` consumes status events and serves the streams and webhooks."""

from __future__ import annotations

import gc

import uvicorn

from services.notify.api import create_app
from services.notify.settings import NotifySettings
from shared.structured_logging import configure

# Thousands of idle streams are millions of long-lived objects (about 200 per connection). With CPython's
# default thresholds (700, 10, 10) the heap's growth as streams connect triggers full collections that
# walk all of them: a second-long pause of the event loop at 10k streams, which every client then waits
# out. A larger young generation collects the short-lived garbage as before but promotes (and so scans
# in full) far less often; cyclic garbage is still found, only in bigger batches.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()  # modules, app and settings live as long as the process: never scan them again
    gc.set_threshold(*GC_THRESHOLDS)


def run() -> None:
    settings = NotifySettings()
    configure("notify", settings.log_level)
    app = create_app(settings)
    tune_gc()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_ping_interval=settings.heartbeat_seconds,
        timeout_graceful_shutdown=5,
        backlog=settings.listen_backlog,
    )


if __name__ == "__main__":
    run()
