"""Path parameters shared by the console's routers."""

# No `from __future__ import annotations` here: FastAPI must resolve the aliases eagerly.

from typing import Annotated

from fastapi import Path

# Ids are forwarded into intake's paths: one plain segment each, never "." or "..".
SafeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.:-]{0,99}$")]
