# redis-calc: `make run` serves the module, `make test` proves it.
# Every target installs the Debian packages it needs when the package database
# says they are missing (scripts/apt-need), so a new machine needs no manual step.

CARGO  ?= cargo
VENV   := .venv
OLDEST := .venv-oldest
PORT   ?= 6379
ROUNDS ?= 7
# Where `make run` keeps its RDB/AOF and log (`make run-reset` empties it).
RUN_DIR ?= target/run

# Debian packages per purpose, decided from the package database (dpkg-query),
# never from files on disk: a new machine ships libclang-cpp14, whose files look
# like libclang's but are not the libclang the redis-module crate's bindgen loads.
BUILD_PKGS  := libclang-dev clang
SERVER_PKGS := redis-server redis-tools
PYTHON_PKGS := python3-venv
TOOL_PKGS   := valgrind

.PHONY: build run run-reset test test-compat lint bench bench-python fuzz valgrind deps node-deps clean

deps:
	@scripts/apt-need $(BUILD_PKGS) $(SERVER_PKGS) $(PYTHON_PKGS)

build: deps
	$(CARGO) build --release

# Foreground server on PORT with the module; Ctrl-C stops it. Its RDB, AOF and
# templates stay in RUN_DIR between runs; `make run-reset` starts afresh.
run: build
	@mkdir -p $(RUN_DIR)
	redis-server $(abspath redis.conf.example) --port $(PORT) --dir $(abspath $(RUN_DIR)) \
		--loadmodule $(abspath target/release/libredis_calc.so)

run-reset:
	rm -rf $(RUN_DIR)

# Unit tests (decoder, template parser), integration tests against real
# redis-server processes the tests start on free loopback ports (single node,
# replicas, a six-node cluster), then the Python package's tests.
# CALC_REDIS_SERVER picks the server binary (default: redis-server on PATH).
test: build $(VENV)/.installed $(OLDEST)/.installed node-deps
	$(CARGO) test --release
	$(VENV)/bin/pytest python/tests -q
	@echo "the Python suite again on the oldest declared dependencies (python/oldest.txt):"
	$(OLDEST)/bin/pytest python/tests -q

# The style gates CI keeps: rustfmt, and clippy with every warning an error
# (on the library, the tests and the benches).
lint: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

# The same suites on Redis 7.2.6, 7.4.1, 8.0.6 and Valkey 8.0.1, 8.1.1, 9.1.2, built once from
# the tarballs in SERVERS_SRC into SERVERS_CACHE. One summary line per server.
SERVERS_SRC   ?= $(abspath ../shared/servers)
SERVERS_CACHE ?= $(HOME)/.cache/redis-calc/servers
test-compat: build $(VENV)/.installed node-deps
	SERVERS_SRC=$(SERVERS_SRC) SERVERS_CACHE=$(SERVERS_CACHE) CARGO=$(CARGO) VENV=$(VENV) scripts/test-compat

# ioredis for the Node.js check (tests/node_client.rs runs tests/node/check.mjs),
# from the npm registry, exactly as tests/node/package-lock.json pins it, into
# the build tree. Node.js 20 and npm come with the machine.
NODE_DIR := target/node
node-deps: $(NODE_DIR)/node_modules/.installed
$(NODE_DIR)/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: npm (Node.js 20) is needed for the Node.js check" >&2; exit 1; }
	mkdir -p $(NODE_DIR)
	cp tests/node/package.json tests/node/package-lock.json $(NODE_DIR)/
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	touch $@

# A virtualenv with the Python package (dogpile.cache backend) and pytest.
$(VENV)/.installed: python/pyproject.toml $(wildcard python/redis_calc/*.py)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e "./python[test]"
	touch $@

# The same with the oldest versions the package declares (python/oldest.txt),
# which `make test` runs the Python suite on too.
$(OLDEST)/.installed: python/pyproject.toml python/oldest.txt
	python3 -m venv $(OLDEST)
	$(OLDEST)/bin/pip install -q --upgrade pip
	$(OLDEST)/bin/pip install -q -c python/oldest.txt -e "./python[test]"
	touch $@

# The module against the design note's Lua scripts and native commands, one
# server, interleaved rounds (ROUNDS=1 for a quick look), then instruction
# counts under callgrind: bench/results.md, bench/results.json, bench/results.png.
bench: build $(VENV)/.installed
	@scripts/apt-need $(TOOL_PKGS)
	$(VENV)/bin/pip install -q matplotlib
	ROUNDS=$(ROUNDS) $(CARGO) bench --bench compare
	$(VENV)/bin/python bench/plot.py

# The design note's pattern end to end from Python: redis_calc.hstore against
# the note's own setup, the parent backend with pickle and dogpile.cache.redis,
# interleaved on one server it starts (redis-server from PATH, or
# CALC_REDIS_SERVER) with the module: bench/python_results.md, .json, .png.
# ROUNDS= (default 40) and BENCH_A= (users, default 1000) scale it down.
bench-python: build $(VENV)/.installed
	$(VENV)/bin/pip install -q matplotlib
	$(VENV)/bin/python bench/python_bench.py
	$(VENV)/bin/python bench/plot_python.py

# libFuzzer on the decoder, the template parser and the JSON packer,
# FUZZ_SECONDS per target.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain
# accept them. New crashes are copied to fuzz/regressions/, which `make test`
# replays.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := decode template pack
fuzz: deps
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t fuzz/regressions/$$t; \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --release $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 || status=1; \
		for crash in fuzz/artifacts/$$t/crash-* fuzz/artifacts/$$t/oom-* fuzz/artifacts/$$t/timeout-*; do \
			[ -e "$$crash" ] && cp "$$crash" fuzz/regressions/$$t/ && echo "new regression: $$crash"; \
		done; \
	done; exit $${status:-0}

# The integration suite with every test server under valgrind memcheck; fails
# on any memcheck error or definite leak. Slow: minutes, not seconds.
VALGRIND_TESTS := hsetex getdict setdict getjson getvalues a2bset purgea templates hostile_input command_behaviour presentation persistence_replication differential
valgrind: build
	@scripts/apt-need $(TOOL_PKGS)
	rm -rf target/valgrind && mkdir -p target/valgrind
	CALC_VALGRIND=$(abspath target/valgrind) $(CARGO) test --release $(addprefix --test ,$(VALGRIND_TESTS)) -- --test-threads=2
	@reports=$$(ls target/valgrind/*.log | wc -l); \
	bad=$$(grep -l -E "^==[0-9]+== (Invalid|Conditional|Use of uninitialised|Syscall param|Mismatched|Source and destination|Argument)|definitely lost: [1-9]" target/valgrind/*.log); \
	echo "valgrind: $$reports server reports in target/valgrind (servers a test kills on purpose end without a summary)"; \
	grep -h "ERROR SUMMARY" target/valgrind/*.log | sed 's/^==[0-9]*== //' | sort | uniq -c; \
	grep -h "definitely lost" target/valgrind/*.log | sed 's/^==[0-9]*== //' | sort | uniq -c; \
	if [ -n "$$bad" ]; then echo "memcheck errors or leaks in:"; echo "$$bad"; exit 1; fi

clean:
	$(CARGO) clean
