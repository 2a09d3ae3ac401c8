# The README's commands, for convenience. CI runs .ci/run.
.PHONY: run test lint bench
run:
	python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/litmine nightly && .venv/bin/litmine dashboard
test:
	python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
bench:
	.venv/bin/python bench/ingest_bench.py && .venv/bin/python bench/bench_dashboard.py
