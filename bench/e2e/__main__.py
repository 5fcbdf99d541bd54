"""`python -m bench.e2e`."""

from __future__ import annotations

from bench.e2e.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
