# Sematic in C: the README's two commands and their helpers.
#
#   make demo    set up, build the dashboard, install the package, run
#                examples/first_pipeline.py with LocalRunner, list what it
#                recorded, start the server and print the run's dashboard URL
#   make test    set up, install, then every suite: C unit tests (plain,
#                ASan+UBSan, valgrind), pytest against the installed package,
#                pytest against an ASan+UBSan build of the extension
#   make bench   bench/overhead.py against plain Python and the real Sematic
#   make bench-server  bench/server_load.py: wrk on our server and Sematic's
#   make bench-ui      bench/ui_paint.ts: the run page of fan-outs of 1k, 10k, 100k in Chromium
#   make browser-test  the dashboard in Debian's Chromium against the real server (in make test)
#   make screenshots   the browser tests, saving docs/images/dashboard-*.png
#   make ui      build the dashboard (ui/dist) from the npm lockfile
#   make lint    clang-format --dry-run -Werror on the C sources (make format fixes)
#   make fuzz    the HTTP request parsers under libFuzzer for FUZZ_SECONDS (300)
#   make clean   remove build directories (distclean: the venvs and caches too)
#
# Each step installs what it lacks and no more: Debian packages only when
# dpkg says one is missing, the pinned tools (requirements-dev.txt) into
# .venv when that file changed. Works from a fresh clone on Debian 12 as root.
# Build directories: build-c, build-asan, build-asan-py, build-pip, build-fuzz (others'
# build-* directories are left alone).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# The PATH make was started with: python3 for `-m venv` comes from here.
ORIG_PATH := $(PATH)
VENV := .venv
VPY := $(CURDIR)/$(VENV)/bin/python
# meson finds ninja, and the extension build finds python3, in the venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
MESON := $(CURDIR)/$(VENV)/bin/meson

APT_DEMO := gcc libc6-dev pkg-config python3 python3-dev python3-venv libssl-dev libsqlite3-dev \
    libmicrohttpd-dev libcurl4-openssl-dev
# clang and its runtime libraries (libFuzzer) build the fuzz target; the browser tests drive
# Debian's Chromium (never a downloaded one).
APT_TEST := $(APT_DEMO) libcmocka-dev valgrind clang libclang-rt-14-dev chromium

SANITIZE := -Db_sanitize=address,undefined -Db_lundef=false
VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect -q
UBSAN_OPTIONS_ := print_stacktrace=1:halt_on_error=1
PYTEST_ARGS ?=
BENCH_ARGS ?=
BENCH_SERVER_ARGS ?=

.PHONY: help demo test bench bench-server lint clean distclean deps-demo deps-test venv install \
        c-test asan-test valgrind-test py-test py-asan-test peers format \
        server-asan-test fuzz fuzz-smoke ui ui-deps ui-test browser-test screenshots bench-ui

help:
	@sed -n '3,17s/^# \{0,1\}//p' Makefile

# ---- setup -----------------------------------------------------------------

# apt_ensure(packages): installs those not installed, or says how to.
define apt_ensure
	@if ! command -v dpkg-query >/dev/null; then \
	    echo "make: no dpkg here; make sure these are installed: $(1)"; exit 0; fi; \
	missing=""; \
	for p in $(1); do \
	    dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "make: missing Debian packages:$$missing" >&2; \
	        echo "make: install them as root: sudo apt-get update && sudo apt-get install -y$$missing" >&2; \
	        exit 1; \
	    fi; \
	    echo "make: installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps-demo:
	$(call apt_ensure,$(APT_DEMO))

deps-test:
	$(call apt_ensure,$(APT_TEST))

# The venv and the pinned tools, reinstalled when requirements-dev.txt differs
# from the copy kept in the venv (content, not timestamps: a fresh clone has
# new timestamps everywhere).
venv: deps-demo
	@if ! $(VENV)/bin/python -c '' 2>/dev/null; then \
	    echo "make: creating $(VENV)"; PATH="$(ORIG_PATH)" python3 -m venv --clear $(VENV); fi
	@if ! cmp -s requirements-dev.txt $(VENV)/.requirements-dev.txt; then \
	    echo "make: installing requirements-dev.txt into $(VENV)"; \
	    $(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt; \
	    cp requirements-dev.txt $(VENV)/.requirements-dev.txt; fi

# A real install of the wheel (not editable: import time matters), built by
# meson-python in build-pip so that a rebuild is incremental. The dashboard is
# built first (from the lockfile), so the wheel ships it as sematic/ui.
install: venv ui
	@echo "make: pip install . (build dir build-pip)"
	@$(VPY) -m pip install --quiet --disable-pip-version-check --no-build-isolation \
	    --no-deps -Cbuild-dir=build-pip .

# ---- the dashboard ---------------------------------------------------------

# Node 20.19 or newer (Vite 7); Debian 12's own nodejs is 18, so a missing or
# older node is an error that says what to install rather than an apt-get.
UI_SOURCES := $(shell find ui/src ui/index.html ui/vite.config.ts ui/tsconfig*.json -type f 2>/dev/null)

ui-deps:
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' \
	    || { echo "make: the dashboard needs Node.js 20.19 or newer (have: $$(node --version 2>/dev/null || echo none)); install it, e.g. from nodesource" >&2; exit 1; }
	@if ! cmp -s ui/package-lock.json ui/node_modules/.package-lock.copy; then \
	    echo "make: npm ci in ui/"; (cd ui && npm ci --no-audit --no-fund --loglevel=error); \
	    cp ui/package-lock.json ui/node_modules/.package-lock.copy; fi

ui: ui/dist/index.html

ui/dist/index.html: $(UI_SOURCES) ui/package-lock.json | ui-deps
	@echo "make: building the dashboard (ui/dist)"
	@cd ui && npm run --silent build

# Typecheck, then the component tests (Vitest, jsdom).
ui-test: ui-deps
	cd ui && npx tsc -b && npx vitest run

# The dashboard in Debian's Chromium (playwright-core) against `sematic start` on a temp store
# filled by real pipelines (ui/tests/browser/, ui/vitest.browser.config.ts); about a minute, most
# of it the 100,000-run fan-out (SEMATIC_BROWSER_FANOUT=0 leaves it out).
# SEMATIC_BROWSER_ARTIFACTS=DIR saves the page of each failed test there.
BROWSER_TEST_ARGS ?=
browser-test: deps-test install ui
	cd ui && npx vitest run -c vitest.browser.config.ts $(BROWSER_TEST_ARGS)

# The same tests, saving the screenshots of docs/images (1440x900) as they go.
screenshots: deps-test install ui
	cd ui && SEMATIC_SCREENSHOTS=docs/images npx vitest run -c vitest.browser.config.ts

# ---- make demo -------------------------------------------------------------

demo: install
	@echo "make: running examples/first_pipeline.py with LocalRunner (store: $${SEMATIC_HOME:-$$HOME/.sematic})"
	@cd examples && SEMATIC_PROGRESS=0 $(VPY) first_pipeline.py
	@echo "make: the pipeline runs recorded so far (sematic runs):"
	@$(VENV)/bin/sematic runs --limit 5
	@echo "make: 'sematic show <id>' and 'sematic logs <id>' show one run"
	@echo "make: starting the server (sematic start) on the same store:"
	@out="$$($(VENV)/bin/sematic start)"; echo "$$out"; \
	url="$$(sed -n 's/.*Sematic dashboard: \(http[^ ]*\).*/\1/p' <<<"$$out" | head -n 1)"; \
	root="$$($(VENV)/bin/sematic runs --limit 1 --json | $(VPY) -c 'import json, sys; r = json.load(sys.stdin); print(r[0]["id"] if r else "")')"; \
	echo "make: its API: curl -s '$$url/api/v1/runs?limit=5'"; \
	echo "make: live events: curl -sN $$url/api/v1/events"; \
	echo "make: stop it with: $(VENV)/bin/sematic stop"; \
	echo "make: the example's run in the dashboard (open it in a browser):"; \
	echo "  $$url/runs/$$root"

# ---- make test -------------------------------------------------------------

test: lint c-test asan-test valgrind-test py-test py-asan-test server-asan-test fuzz-smoke ui-test \
    browser-test
	@echo "make: all suites passed"

# meson_build(dir, options): configures `dir` afresh when it has no build
# (or a configure failed half-way) or was configured with other options, then
# builds it; ninja reconfigures by itself when a meson.build changes.
define meson_build
	@if [ ! -f $(1)/build.ninja ] || [ "$$(cat $(1)/.make-options 2>/dev/null)" != "$(strip $(2))" ]; then \
	    rm -rf $(1); $(MESON) setup $(1) $(2); echo "$(strip $(2))" > $(1)/.make-options; fi
	$(MESON) compile -C $(1)
endef

c-test: deps-test venv
	$(call meson_build,build-c,-Dpython=false -Dtests=true)
	$(MESON) test -C build-c --print-errorlogs

asan-test: deps-test venv
	$(call meson_build,build-asan,-Dpython=false -Dtests=true $(SANITIZE))
	UBSAN_OPTIONS=$(UBSAN_OPTIONS_) $(MESON) test -C build-asan --print-errorlogs

valgrind-test: c-test
	$(MESON) test -C build-c --print-errorlogs --timeout-multiplier=10 --wrap='$(VALGRIND)'

# Says where `import sematic` will come from and fails unless the path
# contains argv[1]; finds the package without importing it.
WHICH_SEMATIC := import importlib.util, sys; \
    f = importlib.util.find_spec("sematic").origin; \
    print("make: pytest against", f); sys.exit(sys.argv[1] not in f)

# pytest from the repository root: tests/python goes first on sys.path and the
# root itself not at all, so `import sematic` is the installed package, never
# python/sematic. The check says which one it found.
py-test: deps-test install peers
	@cd tests/python && $(VPY) -c '$(WHICH_SEMATIC)' site-packages
	$(VENV)/bin/pytest tests/python $(PYTEST_ARGS)

# The same suite against the extension built with ASan+UBSan: the build's
# install tree (python/sematic plus the built _core*.so, as in a wheel) is
# staged in build-asan-py/staging and put first on PYTHONPATH; the sanitizer
# runtime is preloaded into the uninstrumented interpreter, and pymalloc is off
# so ASan sees every allocation. Leak detection is off: CPython frees little
# at exit. Tests that cannot run this way check SM_ASAN=1. The `sematic`
# binary the tests run (CLI, server) is build-asan's: glibc's locale lock
# deadlocks at exit in the uninstrumented one with libasan preloaded.
# Sanitizer reports go to files (pytest captures stderr, and an aborted
# process never prints what it captured) and are shown when pytest fails;
# abort_on_error lets pytest's faulthandler name the test that was running.
STAGING := $(CURDIR)/build-asan-py/staging
SANITIZER_LOG := $(CURDIR)/build-asan-py/sanitizer
ASAN_PY_OPTIONS := -Dpython=true -Dtests=false $(SANITIZE) -Dpython.platlibdir=/site \
    -Dpython.purelibdir=/site
py-asan-test: deps-test install
	$(call meson_build,build-asan,-Dpython=false -Dtests=true $(SANITIZE))
	$(call meson_build,build-asan-py,$(ASAN_PY_OPTIONS))
	@rm -rf $(STAGING)
	@$(MESON) install -C build-asan-py --quiet --no-rebuild --destdir $(STAGING)
	@cd tests/python && PYTHONPATH=$(STAGING)/site $(VPY) -c '$(WHICH_SEMATIC)' $(STAGING)/
	@rm -f $(SANITIZER_LOG).*
	SM_ASAN=1 PYTHONPATH=$(STAGING)/site PYTHONMALLOC=malloc \
	    SEMATIC_CLI=$(CURDIR)/build-asan/src/cli/sematic \
	    LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$(SANITIZER_LOG) \
	    UBSAN_OPTIONS=$(UBSAN_OPTIONS_):abort_on_error=1:log_path=$(SANITIZER_LOG) \
	    $(VENV)/bin/pytest tests/python -p no:cacheprovider $(PYTEST_ARGS) \
	    || { status=$$?; cat $(SANITIZER_LOG).* 2>/dev/null; exit $$status; }

# The server's tests against the `sematic` of build-asan (ASan+UBSan, leak
# checks on): the fixture fails a test whose server exits non-zero on SIGTERM
# or writes a sanitizer report to its log.
server-asan-test: deps-test venv
	$(call meson_build,build-asan,-Dpython=false -Dtests=true $(SANITIZE))
	SEMATIC_CLI=$(CURDIR)/build-asan/src/cli/sematic UBSAN_OPTIONS=$(UBSAN_OPTIONS_) \
	    $(VENV)/bin/pytest tests/python/test_server_*.py -p no:cacheprovider $(PYTEST_ARGS)

# ---- fuzzing ---------------------------------------------------------------

# libFuzzer (clang -fsanitize=fuzzer) over the HTTP request parsers: target
# parsing, routing, static paths, the JSON reader (fuzz/fuzz_http.c). New
# inputs go to build-fuzz/corpus, crashes to build-fuzz/crash-*; the seeds in
# fuzz/corpus/http stay as they are. `make test` runs it for FUZZ_SMOKE_SECONDS.
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 25
FUZZ_BIN := build-fuzz/fuzz_http
FUZZ_SOURCES := fuzz/fuzz_http.c src/server/request.c src/server/router.c \
    src/server/response.c src/server/socketio_proto.c src/core/codec/json.c src/core/util/buf.c src/core/util/err.c \
    src/core/util/alloc.c src/server/events_fmt.c
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra -Iinclude -Isrc/core -Isrc/server
FUZZ_RUN = mkdir -p build-fuzz/corpus && UBSAN_OPTIONS=$(UBSAN_OPTIONS_) $(FUZZ_BIN) \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ -print_final_stats=1 \
    build-fuzz/corpus fuzz/corpus/http

$(FUZZ_BIN): $(FUZZ_SOURCES) $(wildcard src/server/*.h include/sematic/*.h) | deps-test
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) $(FUZZ_SOURCES) -lm -o $@

fuzz: $(FUZZ_BIN)
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS)

fuzz-smoke: $(FUZZ_BIN)
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SMOKE_SECONDS)

# ---- helpers ---------------------------------------------------------------

# The run page at 1,000, 10,000 and 100,000 runs in Chromium: /dag fetch, time to
# sematic:graph-ready, longest task, heap, click to panel, pan/zoom frames (bench/ui_paint.ts).
BENCH_UI_ARGS ?=
bench-ui: deps-test install ui
	cd ui && npx vite-node ../bench/ui_paint.ts -- $(BENCH_UI_ARGS)

peers:
	@PATH="$(ORIG_PATH)" bash bench/peers/setup.sh

bench: install peers
	$(VPY) bench/overhead.py $(BENCH_ARGS)

# The API server under load (wrk), ours beside the real Sematic server.
bench-server: install peers
	$(call apt_ensure,wrk)
	$(VPY) bench/server_load.py $(BENCH_SERVER_ARGS)

C_SOURCES = $$(git ls-files --cached --others --exclude-standard -- \
	'src/*.[ch]' 'include/*.h' 'python/ext/*.[ch]' 'tests/c/*.[ch]' 'bench/*.[ch]' 'fuzz/*.[ch]' \
	2>/dev/null || find src include python/ext tests/c -name '*.[ch]')

lint:
	@if ! command -v clang-format >/dev/null; then \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "make: clang-format is missing: sudo apt-get install -y clang-format" >&2; exit 1; fi; \
	    echo "make: installing clang-format"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-format; fi
	@files="$(C_SOURCES)"; \
	if [ -z "$$files" ]; then echo "make: no C sources to check"; exit 0; fi; \
	clang-format --dry-run -Werror $$files && \
	echo "make: clang-format: $$(echo $$files | wc -w) files formatted"

# Rewrites the C sources in place with .clang-format (what lint checks).
format:
	@files="$(C_SOURCES)"; [ -z "$$files" ] || clang-format -i $$files

clean:
	rm -rf build-c build-asan build-asan-py build-pip build-fuzz

distclean: clean
	rm -rf $(VENV) bench/peers/.venv tests/python/_wheel .pytest_cache
