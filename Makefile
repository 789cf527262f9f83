# kedit: `make` builds the CPU path (no GPU needed); `make GPU=1` adds the CUDA backend in kernels/.
# `make test` builds and runs the test suite (and compiles the CUDA path whenever nvcc is present);
# `make test-gpu` compares every op on both backends and runs the reference tests on the GPU;
# `make test-slurm` runs a sweep through a real single-host Slurm, requeueing it mid-run;
# `make run` runs the bundled demo; `make bench`.

CC      ?= gcc
NVCC    ?= nvcc
PKGS    := openblas lapacke libcjson hdf5 libpcre2-8

# The packages are installed (or named) while the Makefile is read, before any rule runs, so the first `make`
# on a machine without them builds; the pkg-config flags below are deferred (`=`, not `:=`), read when a
# rule uses them, after the install. Sub-makes and `make clean` skip the install.
ifeq ($(MAKELEVEL),0)
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell scripts/install-deps.sh >&2 && echo ok),ok)
$(error kedit: build dependencies missing (see above))
endif
endif
endif

CFLAGS  ?= -O3 -march=x86-64-v2
CFLAGS  += -std=c11 -D_GNU_SOURCE -fopenmp -Wall -Wextra -Wno-unused-parameter -MMD -MP \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -fopenmp

ifeq ($(GPU),1)
BUILD   := build/gpu
CFLAGS  += -DKEDIT_CUDA
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v $(NVCC)))
NVFLAGS := -O3 -std=c++17 -DKEDIT_CUDA -Ihost \
           -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
           -gencode arch=compute_90,code=compute_90
LDLIBS  += -L$(CUDA_HOME)/lib64 -lcudart -lcublas -lcusolver -lstdc++
KERN_OBJ := $(patsubst kernels/%.cu,$(BUILD)/kernels/%.o,$(wildcard kernels/*.cu))
else
BUILD   := build/cpu
KERN_OBJ :=
endif

HOST_SRC := $(wildcard host/*.c host/methods/*.c host/run/*.c)
LIB_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(filter-out host/main.c,$(HOST_SRC))) $(KERN_OBJ)
MAIN_OBJ := $(BUILD)/host/main.o
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCH_SRC := $(wildcard benchmarks/bench_*.c)
BENCH_BIN := $(patsubst benchmarks/%.c,$(BUILD)/benchmarks/%,$(BENCH_SRC))
KEDIT    := $(if $(filter 1,$(GPU)),bin/kedit-gpu,bin/kedit)

.PHONY: all deps test test-gpu test-slurm run bench clean gpu-build fuzz FORCE
all: $(KEDIT)

# the packages alone (installed, as every target's are, while the Makefile is read)
deps:
	@:

$(KEDIT): $(MAIN_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ihost -c $< -o $@

# the source revision a run records (results' git_revision): rewritten only when it changes
$(BUILD)/gen/git_rev.h: FORCE
	@mkdir -p $(dir $@)
	@rev=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
	 if [ "$$rev" != unknown ] && ! git diff --quiet HEAD -- host kernels 2>/dev/null; then rev=$$rev-dirty; fi; \
	 echo "#define KEDIT_GIT_REV \"$$rev\"" > $@.tmp; cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/host/run/runner.o: $(BUILD)/gen/git_rev.h
$(BUILD)/host/run/runner.o: CFLAGS += -I$(BUILD)/gen

$(BUILD)/kernels/%.o: kernels/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(LIB_OBJ) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ihost -Itests -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BUILD)/benchmarks/%: benchmarks/%.c $(LIB_OBJ) $(wildcard benchmarks/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ihost -Itests -o $@ $< $(LIB_OBJ) $(LDLIBS)

# The test suite: (when nvcc exists) a compile of the CUDA path, (when clang exists) the fuzzers, then every
# tests/test_* binary (tests/test_fuzz.c runs each fuzzer for a few seconds).
test: $(KEDIT) $(TEST_BIN) gpu-build fuzz
	@tests/run_tests.sh $(TEST_BIN)

GPU_TESTS := build/gpu/tests/test_gpu_ops build/gpu/tests/test_forward

# libFuzzer harnesses of the parsers (tests/fuzz/fuzz_*.c), built with clang where present: every library
# object again, with AddressSanitizer and UBSan, in build/fuzz (README: a long run)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/tests/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz:
	@if command -v clang >/dev/null 2>&1; then \
	    CFLAGS='-O1 -g -fsanitize=fuzzer-no-link,address,undefined -Wno-pass-failed' \
	        $(MAKE) --no-print-directory CC=clang BUILD=build/fuzz $(FUZZ_BIN) || exit 1; \
	else echo "fuzz: clang not found, fuzzers not built"; fi

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $(LIB_OBJ) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Ihost -o $@ $< $(LIB_OBJ) $(LDLIBS)

gpu-build:
	@if command -v $(NVCC) >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory GPU=1 bin/kedit-gpu $(GPU_TESTS) build/gpu/benchmarks/bench_gpu_ops || exit 1; \
	else echo "gpu-build: nvcc not found, CUDA path not compiled"; fi

# every op on both backends, then the reference tests of the forward and backward on the GPU; in full
# float32 (KEDIT_TF32=1 build/gpu/tests/test_gpu_ops checks the TF32 path with its own tolerance)
test-gpu:
	@$(MAKE) --no-print-directory GPU=1 bin/kedit-gpu $(GPU_TESTS)
	@env -u KEDIT_TF32 KEDIT_TEST_DEVICE=cuda tests/run_tests.sh $(GPU_TESTS)

# the sweep's array on a real single-host Slurm, one task signalled and one requeued mid-run (about 4
# minutes; as root it installs slurm-wlm and munge and starts the daemons itself: tests/slurm/run.sh);
# where Slurm cannot be installed or started it prints SKIP and the reason, and make goes on
test-slurm: $(KEDIT)
	@tests/slurm/run.sh; rc=$$?; [ $$rc -eq 77 ] || exit $$rc

bench: $(KEDIT) $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

run: $(KEDIT)
	@scripts/run-demo.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
