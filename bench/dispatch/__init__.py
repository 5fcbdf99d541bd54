"""Benchmark of dispatch in memory: matching, the owner's path and the roster's memory against district size.

    .venv/bin/python -m bench.dispatch                                  # 100, 1k, 10k, 100k volunteers
    .venv/bin/python -m bench.dispatch --volunteers 100,100000 --requests 500 --repeats 5
    .venv/bin/python -m bench.dispatch --quick

No database, no Kafka. See docs/bench-dispatch.md.
"""
