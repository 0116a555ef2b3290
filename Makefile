# redis-calc: `make run` serves the module, `make test` proves it.
# Both install what is missing (Debian packages: redis-server, redis-tools,
# libclang for the redis-module crate's bindgen) on a fresh machine.

CARGO  ?= cargo
PORT   ?= 6379
MODULE := target/release/libredis_calc.so
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: build run test deps clean

build: deps
	$(CARGO) build --release

run: build
	redis-server redis.conf.example --port $(PORT) --loadmodule $(abspath $(MODULE))

# Unit tests (decoder, template parser) and integration tests against real
# redis-server processes the tests start on free loopback ports.
test: build
	$(CARGO) test --release

deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-tools"; \
	ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || missing="$$missing libclang-dev clang"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

clean:
	$(CARGO) clean
