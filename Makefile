# mamori: the two commands.
#   make run   installs what is missing, builds, starts mamorid on loopback
#   make test  installs what is missing, builds, runs every test
BUILD ?= build/release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build run test bench clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	@mkdir -p var
	@exec $(BUILD)/mamorid -f $(if $(CONFIG),-c $(CONFIG))

test: deps
	@./scripts/run-tests.sh

bench: build
	@for b in $(BUILD)/bench_*; do [ "$$b" = $(BUILD)/bench_milter ] && continue; echo "== $$b"; $$b; done
	@echo "== bench/milter.sh (Postfix with and without mamorid; needs root)"
	@bash bench/milter.sh --bench $(BUILD)/bench_milter --mamorid $(BUILD)/mamorid

clean:
	rm -rf build
