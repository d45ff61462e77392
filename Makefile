# dprive: two commands do all the set-up on a fresh Debian machine:
#   make demo   run dprive in front of a local DNS-over-TLS unbound and query it
#   make test   every test tier this machine allows
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all deps venv luci-node test test-unit test-integration test-netns test-micropython test-routerpy test-feed demo bench flows clean

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

test: deps venv luci-node routerpy-site feed-venvs mbedtls36 nopyopenssl-venv
	$(PY) -m pyflakes src tests bench package
	$(PY) -m pytest -q tests/unit tests/fuzz tests/integration tests/netns tests/package tests/openwrt tests/luci_static tests/luci tests/routerpy
	$(MBEDTLS36_TESTS)
	$(NOPYOPENSSL_PYTEST)
	DPRIVE_MBEDTLS_LIBDIR=$(MBEDTLS36_LIB) $(NOPYOPENSSL_PYTEST)
	$(PY) tests/micropython/run.py
	$(FEED_PYTEST)

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-integration: deps venv
	$(PY) -m pytest -q tests/integration

test-netns: deps venv
	$(PY) -m pytest -q tests/netns

# The daemon's procd jail: what the init script declares, and the daemon run
# in it (root: under tests/openwrt/minijail.py, and procd's own ujail where
# one is built, see tests/openwrt/jail_runners.py).
.PHONY: test-jail
test-jail: deps venv
	$(PY) -m pytest -q tests/openwrt/test_jail.py tests/openwrt/test_jail_run.py tests/openwrt/test_jail_ubus.py

# What the daemon opens and calls (strace), the list its jail is made from.
.PHONY: jail-paths
jail-paths: deps venv
	$(PY) bench/jail_paths.py
	$(PY) bench/jail_paths.py --dtls

# The ubus object on the python3-ubus stand-in and the fake ubusd (tests/standins/).
.PHONY: test-ubus
test-ubus: deps venv
	$(PY) -m pytest -q tests/unit/test_ubus_standin.py tests/integration/test_ubus.py

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

# mbedTLS 3.6 (OpenWrt's) for the DTLS tests: Debian 13's libmbedtls21,
# libmbedx509-7 and libmbedcrypto16, checked against the signed InRelease and
# unpacked with dpkg -x (tests/tools/fetch_mbedtls36.py). The DTLS tests run on
# it with DPRIVE_MBEDTLS_LIBDIR=$(MBEDTLS36_LIB); without it on Debian 12's 2.28.
MBEDTLS36 := build/mbedtls-3.6
MBEDTLS36_LIB := $(CURDIR)/$(MBEDTLS36)/lib
.PHONY: mbedtls36
mbedtls36: $(MBEDTLS36)/.stamp

$(MBEDTLS36)/.stamp: tests/tools/fetch_mbedtls36.py
	$(PYTHON) tests/tools/fetch_mbedtls36.py --dest $(MBEDTLS36)

# The DoT engine tests (tls_engine openssl and mbedtls; on 3.6 the mbedTLS one has TLS 1.3).
DOT_MBEDTLS_TESTS := tests/unit/test_dot_engine.py tests/unit/test_dot_engine_choice.py \
	tests/integration/test_dot_engines.py
# The whole integration tier on the mbedTLS DoT engine, on 2.28 and on 3.6 (slow: not in `test`).
.PHONY: test-dot-mbedtls
test-dot-mbedtls: deps venv mbedtls36
	DPRIVE_TEST_TLS_ENGINE=mbedtls $(PY) -m pytest -q -p no:cacheprovider tests/integration
	DPRIVE_TEST_TLS_ENGINE=mbedtls DPRIVE_MBEDTLS_LIBDIR=$(MBEDTLS36_LIB) $(PY) -m pytest -q \
		-p no:cacheprovider tests/integration

# The client's DTLS tests again on mbedTLS 3.6 (the mbedTLS runs only: the
# pyOpenSSL ones do not depend on it).
DTLS_CLIENT_TESTS := tests/unit/test_dtls_engine.py tests/unit/test_client_dtls_engine_choice.py \
	tests/integration/test_dtls_upstream.py
MBEDTLS36_PYTEST = DPRIVE_MBEDTLS_LIBDIR=$(MBEDTLS36_LIB) $(PY) -m pytest -q -p no:cacheprovider \
	-k "not pyopenssl" $(DTLS_CLIENT_TESTS)
# What `make test` runs on 3.6 besides the default run on 2.28: the client's
# tests, the gateway's (tickets across a restart need 3.1+), the DTLS flows
# with both client and gateway on mbedTLS.
# The router's default DoT path (tls_engine auto takes mbedTLS 3.x): the integration
# tier and the TLS flows on the mbedTLS engine and 3.6.
DOT_ON_MBEDTLS36 = DPRIVE_TEST_TLS_ENGINE=mbedtls DPRIVE_MBEDTLS_LIBDIR=$(MBEDTLS36_LIB) \
	$(PY) -m pytest -q -p no:cacheprovider
MBEDTLS36_TESTS = $(MBEDTLS36_PYTEST) && \
	$(DOT_ON_MBEDTLS36) $(DOT_MBEDTLS_TESTS) tests/integration && \
	$(DOT_ON_MBEDTLS36) tests/netns/test_flows.py -k "flow_against_the_relay or flow_against_unbound" && \
	DPRIVE_MBEDTLS_LIBDIR=$(MBEDTLS36_LIB) $(PY) -m pytest -q -p no:cacheprovider $(GATEWAY_ENGINE_TESTS) && \
	DPRIVE_MBEDTLS_LIBDIR=$(MBEDTLS36_LIB) $(PY) -m pytest -q -p no:cacheprovider \
		tests/netns/test_flows.py -k "dtls_flow and mbedtls"
.PHONY: test-mbedtls36
test-mbedtls36: deps venv mbedtls36
	$(MBEDTLS36_TESTS)

# A venv without pyOpenSSL, cryptography or python-mbedtls (as a stock OpenWrt
# image without dprive-dtls's Python packages): the test tools only, as
# requirements-dev.txt pins them. DTLS there runs on libmbedtls or not at all;
# DPRIVE_EXPECT_NO_PYOPENSSL makes tests/unit/test_without_pyopenssl.py check so.
NOPYOPENSSL := .venv-nopyopenssl
# (test_gateway.py imports OpenSSL for its own peers: test_gateway_engines stands in.)
NOPYOPENSSL_TESTS := tests/unit/test_without_pyopenssl.py tests/unit/test_client_dtls_engine_choice.py \
	tests/integration/test_dtls_upstream.py tests/unit/test_gateway_session.py \
	tests/integration/test_gateway_engines.py $(DOT_MBEDTLS_TESTS)
NOPYOPENSSL_PYTEST = DPRIVE_EXPECT_NO_PYOPENSSL=1 $(NOPYOPENSSL)/bin/python -m pytest -q -p no:cacheprovider \
	$(NOPYOPENSSL_TESTS)

$(NOPYOPENSSL)/.stamp: requirements-dev.txt pyproject.toml
	rm -rf $(NOPYOPENSSL)
	$(PYTHON) -m venv $(NOPYOPENSSL)
	$(NOPYOPENSSL)/bin/pip install -q --disable-pip-version-check -c requirements-dev.txt \
		pytest pytest-timeout hypothesis dnspython
	$(NOPYOPENSSL)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

.PHONY: nopyopenssl-venv test-nopyopenssl
nopyopenssl-venv: $(NOPYOPENSSL)/.stamp

test-nopyopenssl: deps nopyopenssl-venv
	$(NOPYOPENSSL_PYTEST)

test-micropython: venv
	$(PY) tests/micropython/run.py

# The fuzz tier (tests/fuzz/README.md): corpus replay and a short fixed run of
# every target (what `make test` runs), and the long coverage-guided run under
# atheris, one target at a time: FUZZ_SECONDS per target (or FUZZ_RUNS runs),
# FUZZ_TARGETS to pick some, FUZZ_MERGE=1 to add new coverage to the seeds.
FUZZ_SECONDS ?= 120
FUZZ_RUNS ?=
FUZZ_TARGETS ?= client,upstream,dtls,config,gateway
.PHONY: test-fuzz fuzz
test-fuzz: venv
	$(PY) -m pytest -q tests/fuzz

fuzz: venv
	$(PY) tests/fuzz/fuzz_all.py --targets $(FUZZ_TARGETS) \
		$(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),--seconds $(FUZZ_SECONDS)) $(if $(FUZZ_MERGE),--merge)

# dprive under the stdlib as OpenWrt 24.10's (and, with a CPython 3.13 here,
# 25.12's) split python3 packages install it, with only the feed Makefile's
# DEPENDS (tests/tools/router_python.py).
# For 25.12, pyOpenSSL (the version requirements-dev.txt pins) and its
# dependencies built for this machine's CPython 3.13, if it has one.
ROUTERPY_SITE := build/routerpy/site-packages-3.13
.PHONY: routerpy-site
routerpy-site: $(ROUTERPY_SITE)/.stamp

$(ROUTERPY_SITE)/.stamp: requirements-dev.txt
	@if py=$$($(PYTHON) tests/tools/router_python.py --find 3.13); then \
		$$py -m pip install -q --disable-pip-version-check --root-user-action=ignore --upgrade \
			--target $(ROUTERPY_SITE) $$(sed -n 's/^\(pyOpenSSL==[^ ]*\).*/\1/p' requirements-dev.txt) && \
		touch $@; \
	else echo "no CPython 3.13 here: tests/routerpy skips OpenWrt 25.12"; fi

test-routerpy: deps venv routerpy-site
	$(PY) -m pytest -q tests/routerpy

demo: deps venv
	$(PY) tests/tools/demo.py

# Issue 13's figures: dprive, stubby and unbound as a DoT forwarder side by side
# (throughput, latency at 2000 q/s, idle and loaded RSS, 3 rounds each), start-up
# under the router's Python, then the package sizes and the DTLS engines' RSS.
bench: deps venv
	$(PY) bench/bench.py --rounds 3
	$(PY) bench/startup.py --runs 3
	$(PY) bench/footprint.py
	$(PY) bench/footprint_dtls.py
	$(PY) bench/memory.py
	$(PY) bench/latency.py --dtls

# dprive's RSS across PACKETS hostile LAN packets (UDP and TCP) with a hostile
# DoT upstream beside a good one, good queries checked (bench/wirefuzz.py).
PACKETS ?= 1000000
.PHONY: fuzz-wire
fuzz-wire: deps venv
	$(PY) bench/wirefuzz.py --packets $(PACKETS)

# What RELOADS reloads that move an upstream cost in memory, with FUZZ hostile LAN
# packets between them: RSS, malloc in use / heap, session reads, live objects
# (bench/reload_memory.py; glibc only: it reads mallinfo2).
RELOADS ?= 300
FUZZ ?= 1000
.PHONY: bench-reload-memory
bench-reload-memory: deps venv
	$(PY) bench/reload_memory.py --reloads $(RELOADS) --fuzz $(FUZZ)
	$(PY) bench/reload_memory.py --reloads $(RELOADS) --fuzz $(FUZZ) --resumption off

# The mutation score of the sans-I/O cores: mutmut 3 (requirements-mutation.txt,
# in its own venv) mutates every function of src/dprive/core/ and of the
# gateway's core (pyproject.toml [tool.mutmut] lists the files) and runs the unit
# tests that pyproject.toml's [tool.mutmut] names on each mutant; then the score,
# killed / total per module, and every mutant not killed (mutmut's work is
# kept in mutants/, git-ignored; `.venv-mutation/bin/mutmut show NAME` gives
# a mutant's diff; survivors judged equivalent: tests/tools/mutation_equivalent.txt).
# About 45 minutes on two shared cores: not part of `make test`.
MUTATION_VENV := .venv-mutation
MUTATION_JOBS ?= 2

$(MUTATION_VENV)/.stamp: requirements-mutation.txt
	rm -rf $(MUTATION_VENV)
	$(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-mutation.txt
	touch $@

.PHONY: mutation
mutation: $(MUTATION_VENV)/.stamp
	rm -rf mutants
	$(MUTATION_VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) >mutants.log 2>&1 || \
		{ tail -n 40 mutants.log; exit 1; }
	$(MUTATION_VENV)/bin/python tests/tools/mutation_score.py mutants

# The draft's recovery flows on the netns network, dprive and stubby side by side (root);
# the DTLS rows on each client engine. DPRIVE_MBEDTLS_LIBDIR=<dir> make flows: on that libmbedtls.
flows: deps venv
	$(PY) bench/flows.py

# The soak (root): dprive (TLS and DTLS) and stubby under steady load on the netns
# network while faults rotate, then a forged-RST storm; prints the table.
# In a private mount namespace, so nothing outside (an unmount propagated from
# another mount namespace, e.g. a jail) can take its network namespaces away.
SOAK_SECONDS ?= 300
SOAK_RATE ?= 30
.PHONY: soak
soak: deps venv
	unshare -m --propagation private $(PY) bench/soak.py --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)

# The gateway's DTLS engines on every libmbedtls here: the loader's (Debian 12's
# 2.28), then each directory of MBEDTLS_LIBDIRS that exists (3.6: Debian 13's
# build, OpenWrt's configuration); and the RSS of N established sessions per engine.
MBEDTLS_LIBDIRS ?= $(MBEDTLS36_LIB) /opt/real/mbedtls-owrt/lib
GATEWAY_ENGINE_TESTS = tests/unit/test_gateway_session.py tests/integration/test_gateway.py \
	tests/integration/test_gateway_engines.py
.PHONY: test-gateway-engines gateway-rss
test-gateway-engines: deps venv mbedtls36
	$(PY) -m pytest -q $(GATEWAY_ENGINE_TESTS)
	for dir in $(MBEDTLS_LIBDIRS); do [ ! -d $$dir ] || \
		DPRIVE_MBEDTLS_LIBDIR=$$dir $(PY) -m pytest -q $(GATEWAY_ENGINE_TESTS) || exit 1; done
SESSIONS ?= 200
gateway-rss: deps venv
	$(PY) -m tests.tools.gateway_session_rss --sessions $(SESSIONS)
	for dir in $(MBEDTLS_LIBDIRS); do [ ! -d $$dir ] || DPRIVE_MBEDTLS_LIBDIR=$$dir \
		$(PY) -m tests.tools.gateway_session_rss --sessions $(SESSIONS) --engines mbedtls; done

# The OpenWrt 24.10 packages, without the SDK: build/ipk/dprive_<version>-r<release>_all.ipk,
# dprive-src_..., dprive-dtls_... and luci-app-dprive_..._all.ipk, their .pyc
# compiled by $(PYTHON), which must be Python 3.11 (package/build_ipk.py).
.PHONY: ipk
ipk:
	$(PYTHON) package/build_ipk.py --out build/ipk

# The release tarball the feed Makefile builds from, build/dist/dprive-<version>.tar.gz
# (package/dist.py); it also rewrites PKG_VERSION and PKG_HASH in
# package/dprive/Makefile when the sources changed: commit that file after it.
.PHONY: dist
dist:
	$(PYTHON) package/dist.py --out build/dist

# The same packages for OpenWrt 25.12+ (apk-tools 3): build/apk/dprive-<version>-r1.apk,
# dprive-dtls-<version>-r1.apk and luci-app-dprive-<version>-r1.apk, unsigned
# as the SDK's `apk mkpkg` writes them (package/build_apk.py, standard library only).
# With a CPython 3.13 on this machine (25.12's Python) dprive ships as .pyc
# plus dprive-src, as from the SDK; without one, as .py sources.
.PHONY: apk
apk:
	py=$$($(PYTHON) tests/tools/router_python.py --find 3.13 2>/dev/null); \
	$(PYTHON) package/build_apk.py --out build/apk $${py:+--python "$$py"}

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
	rm -rf $(VENV) .venv-feed-* $(NOPYOPENSSL) .pytest_cache .hypothesis tests/luci_static/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
