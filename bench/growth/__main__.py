"""`python -m bench.growth`: see bench/growth/cli.py."""

from __future__ import annotations

import sys

from bench.growth.cli import main

sys.exit(main())
