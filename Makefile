# redis-calc: `make run` serves the module, `make test` proves it.
# Both install what is missing (Debian packages: redis-server, redis-tools,
# libclang for the redis-module crate's bindgen) on a fresh machine.

CARGO  ?= cargo
VENV   := .venv
PORT   ?= 6379
ROUNDS ?= 7
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: build run test bench fuzz valgrind deps clean

# valgrind: memcheck for `make valgrind`, callgrind's instruction counts for `make bench`.
define need_valgrind
@command -v valgrind >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq valgrind >/dev/null; }
endef

build: deps
	$(CARGO) build --release

run: build
	redis-server redis.conf.example --port $(PORT)

# Unit tests (decoder, template parser), integration tests against real
# redis-server processes the tests start on free loopback ports (single node,
# replicas, a six-node cluster), then the Python package's tests.
test: build $(VENV)/.installed
	$(CARGO) test --release
	$(VENV)/bin/pytest python/tests -q

# A virtualenv with the Python package (dogpile.cache backend) and pytest.
$(VENV)/.installed: python/pyproject.toml $(wildcard python/redis_calc/*.py)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q "./python[test]"
	touch $@

# The module against the design note's Lua scripts and native commands, one
# server, interleaved rounds (ROUNDS=1 for a quick look), then instruction
# counts under callgrind: bench/results.md, bench/results.json, bench/results.png.
bench: build $(VENV)/.installed
	$(need_valgrind)
	$(VENV)/bin/pip install -q matplotlib
	ROUNDS=$(ROUNDS) $(CARGO) bench --bench compare
	$(VENV)/bin/python bench/plot.py

# libFuzzer on the decoder and the template parser, FUZZ_SECONDS per target.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain
# accept them. New crashes are copied to fuzz/regressions/, which `make test`
# replays.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := decode template
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
VALGRIND_TESTS := hsetex getdict a2bset purgea templates hostile_input command_behaviour persistence_replication differential
valgrind: build
	$(need_valgrind)
	rm -rf target/valgrind && mkdir -p target/valgrind
	CALC_VALGRIND=$(abspath target/valgrind) $(CARGO) test --release $(addprefix --test ,$(VALGRIND_TESTS)) -- --test-threads=2
	@reports=$$(ls target/valgrind/*.log | wc -l); \
	bad=$$(grep -l -E "^==[0-9]+== (Invalid|Conditional|Use of uninitialised|Syscall param|Mismatched|Source and destination|Argument)|definitely lost: [1-9]" target/valgrind/*.log); \
	echo "valgrind: $$reports server reports in target/valgrind (servers a test kills on purpose end without a summary)"; \
	grep -h "ERROR SUMMARY" target/valgrind/*.log | sed 's/^==[0-9]*== //' | sort | uniq -c; \
	grep -h "definitely lost" target/valgrind/*.log | sed 's/^==[0-9]*== //' | sort | uniq -c; \
	if [ -n "$$bad" ]; then echo "memcheck errors or leaks in:"; echo "$$bad"; exit 1; fi

deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-tools"; \
	ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || missing="$$missing libclang-dev clang"; \
	python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing="$$missing python3 python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

clean:
	$(CARGO) clean
