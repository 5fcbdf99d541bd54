"""The intake app as deployed, plus a bare endpoint that answers 202 without touching Kafka or the database.

Run by bench/intake/run.py in a child process, so that the load generator does not share its event loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn
from fastapi.responses import JSONResponse

from services.intake.api import create_app
from shared.settings import IntakeSettings


def main() -> None:
    settings = IntakeSettings()
    app = create_app(settings)

    @app.post("/bench/bare", status_code=202, include_in_schema=False)
    async def bare() -> JSONResponse:
        return JSONResponse({"status": "accepted"}, status_code=202)

    @app.get("/bench/cache-reads", include_in_schema=False)
    async def cache_reads() -> JSONResponse:
        # -1: an intake without the reference cache (to measure the code before it with this benchmark).
        reference = getattr(app.state.intake, "reference", None)
        return JSONResponse({"database_reads": getattr(reference, "database_reads", -1)})

    uvicorn.run(app, host="127.0.0.1", port=settings.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
