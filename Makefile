# Developer shortcuts. PYTHON defaults to the interpreter on PATH; e.g. make bench PYTHON=/work/venv/bin/python

PYTHON ?= python

.PHONY: bench bench-quick

# All benchmarks at 10k/100k/1M cells (~30-40 min on 2 cores); writes benchmarks/RESULTS.md.
bench:
	$(PYTHON) benchmarks/run_all.py $(BENCH_ARGS)

# Smoke run on tiny data (~1 min); writes benchmarks/_data/RESULTS-quick.md.
bench-quick:
	$(PYTHON) benchmarks/run_all.py --quick
