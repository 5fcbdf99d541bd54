"""Console process: the operators' web page and the JSON it reads, scoped to the operator key's district.

The routes live in `services.console.routes` (one router per area), authorisation in `services.console.auth`,
and the wiring in `services.console.bootstrap`; this module keeps the app factory's historical import path.
"""

from __future__ import annotations

from services.console.bootstrap import create_app

__all__ = ["create_app"]
