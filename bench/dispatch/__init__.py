"""Benchmark of the dispatch engine: matches/s against district size, with the database's update rate as ceiling.

    .venv/bin/python -m bench.dispatch                              # 1k, 10k, 100k volunteers
    .venv/bin/python -m bench.dispatch --sizes 1000,10000,100000,1000000 --requests 500

See docs/bench-dispatch.md.
"""
