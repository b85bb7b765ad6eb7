# One entry point for humans and CI. `make help` lists the targets.
PYTHON ?= python3

.PHONY: help install lint test test-rust bench bench-rust stubs

help:
	@echo "install    build the Rust extension and install cogstar with dev tools (editable)"
	@echo "lint       cargo fmt/clippy, ruff, mypy --strict, stub check against the binary"
	@echo "test       Python test suite (the README's test command)"
	@echo "test-rust  cargo test (pure Rust, no Python needed)"
	@echo "bench      pytest-benchmark suite (Python API, vs pure-Python references)"
	@echo "bench-rust criterion benches of the Rust kernels"

install:
	$(PYTHON) -m pip install -e ".[dev]"

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	ruff check .
	ruff format --check .
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest cogstar._core

test:
	$(PYTHON) -m pytest

test-rust:
	cargo test

bench:
	$(PYTHON) -m pytest benches --benchmark-only -p no:randomly -o addopts="" --benchmark-columns=min,median,mean,rounds

bench-rust:
	cargo bench --bench kernels
