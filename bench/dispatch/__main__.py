"""`python -m bench.dispatch`."""

from __future__ import annotations

from bench.dispatch.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
