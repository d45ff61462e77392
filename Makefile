# dprive: two commands do all the set-up on a fresh Debian machine:
#   make demo   run dprive in front of a local DNS-over-TLS unbound and query it
#   make test   every test tier this machine allows
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all deps venv test test-unit test-integration test-netns test-micropython demo bench flows clean

all: test

# Debian packages the tests, the demo and the benchmark run against.
deps:
	@sh tests/tools/ensure-deps.sh

$(VENV)/.stamp: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.stamp

test: deps venv
	$(PY) -m pyflakes src tests bench package
	$(PY) -m pytest -q tests/unit tests/integration tests/netns tests/package tests/openwrt
	$(PY) tests/micropython/run.py

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-integration: deps venv
	$(PY) -m pytest -q tests/integration

test-netns: deps venv
	$(PY) -m pytest -q tests/netns

test-micropython: venv
	$(PY) tests/micropython/run.py

demo: deps venv
	$(PY) tests/tools/demo.py

bench: deps venv
	$(PY) bench/bench.py
	$(PY) bench/footprint.py

# The draft's recovery flows on the netns network, dprive and stubby side by side (root).
flows: deps venv
	$(PY) bench/flows.py

# The OpenWrt packages, without the SDK: build/ipk/dprive_<version>_all.ipk
# and dprive-dtls_<version>_all.ipk (package/build_ipk.py, standard library only).
.PHONY: ipk
ipk:
	$(PYTHON) package/build_ipk.py --out build/ipk

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
