# The three commands anyone (and any script) can rely on; see README.md.
#   make run    install what is missing, build, start custos on its embedded default
#   make test   install what is missing, build, run every test (PostgreSQL ones included)
#   make build  build build/custos
# And:
#   make asan   build under AddressSanitizer + UndefinedBehaviorSanitizer and run every test
#   make fuzz   build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#   make bench  run the benchmarks in bench/ (prints ratios against baselines)

BUILD_DIR ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
CTEST_ARGS ?=
FUZZ_SECONDS ?= 60

.PHONY: build run test asan fuzz bench deps clean

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target custos
	$(BUILD_DIR)/custos serve --data-dir ./var --listen 127.0.0.1:8080

test: build
	scripts/with-postgres.sh ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

asan:
	$(MAKE) test BUILD_DIR=build-asan CMAKE_FLAGS="-DCUSTOS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCUSTOS_BENCH=OFF"

fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCUSTOS_FUZZ=ON -DCUSTOS_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build-fuzz -j $(JOBS)
	scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	bench/run-all.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz
