# dprive: two commands do all the set-up on a fresh Debian machine:
#   make demo   run dprive in front of a local DNS-over-TLS unbound and query it
#   make test   every test tier this machine allows
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all deps venv luci-node test test-unit test-integration test-netns test-micropython test-feed demo bench flows clean

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

# The static checks of luci-app-dprive parse and lint the views with Node
# (acorn, ESLint), pinned in tests/luci_static/package-lock.json.
LUCI_NODE := tests/luci_static/node_modules/.package-lock.json

$(LUCI_NODE): tests/luci_static/package.json tests/luci_static/package-lock.json
	npm ci --prefix tests/luci_static --no-audit --no-fund --loglevel=error
	touch $@

luci-node: $(LUCI_NODE)

test: deps venv luci-node feed-venvs
	$(PY) -m pyflakes src tests bench package
	$(PY) -m pytest -q tests/unit tests/integration tests/netns tests/package tests/openwrt tests/luci_static tests/luci
	$(PY) tests/micropython/run.py
	$(FEED_PYTEST)

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-integration: deps venv
	$(PY) -m pytest -q tests/integration

test-netns: deps venv
	$(PY) -m pytest -q tests/netns

# DTLS (client and gateway) on the pyOpenSSL/cryptography pairs of OpenWrt's feed:
# one venv per release, the versions in tests/feed/requirements-<release>.txt only,
# installed --no-deps as the feed pairs them; the test tools as requirements-dev.txt pins them.
FEED_RELEASES := 24.10 25.12
FEED_TESTS := tests/feed tests/unit/test_dtls_engine.py tests/unit/test_dtls_support.py tests/unit/test_gateway_session.py \
	tests/integration/test_dtls_upstream.py tests/integration/test_gateway.py
FEED_PYTEST = for release in $(FEED_RELEASES); do echo "== feed $$release"; \
	DPRIVE_FEED_RELEASE=$$release .venv-feed-$$release/bin/python -m pytest -q -p no:cacheprovider \
	$(FEED_TESTS) || exit 1; done

.venv-feed-%/.stamp: tests/feed/requirements-%.txt requirements-dev.txt pyproject.toml
	rm -rf .venv-feed-$*
	$(PYTHON) -m venv .venv-feed-$*
	.venv-feed-$*/bin/pip install -q --disable-pip-version-check -c requirements-dev.txt \
		pytest pytest-timeout hypothesis dnspython
	.venv-feed-$*/bin/pip install -q --disable-pip-version-check --no-deps -r tests/feed/requirements-$*.txt
	.venv-feed-$*/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

.PHONY: feed-venvs
feed-venvs: $(FEED_RELEASES:%=.venv-feed-%/.stamp)

test-feed: deps feed-venvs
	$(FEED_PYTEST)

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

# The OpenWrt packages, without the SDK: build/ipk/dprive_<version>_all.ipk,
# dprive-dtls_<version>_all.ipk and luci-app-dprive_<version>_all.ipk
# (package/build_ipk.py, standard library only).
.PHONY: ipk
ipk:
	$(PYTHON) package/build_ipk.py --out build/ipk

# luci-app-dprive's generated files: the schema module the views validate
# with (from src/dprive/schema.py) and the translation template.
.PHONY: luci-gen
luci-gen:
	$(PYTHON) package/gen_luci_schema.py
	$(PYTHON) package/gen_luci_pot.py

# The default config files with their option comments, and their read-only copies
# under files/usr/share/dprive/, from src/dprive/schema.py (checked by tests/unit).
.PHONY: config-gen
config-gen:
	$(PYTHON) package/gen_default_config.py

clean:
	rm -rf $(VENV) .venv-feed-* .pytest_cache .hypothesis tests/luci_static/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
