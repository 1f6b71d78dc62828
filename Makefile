# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
#   make            build BPF objects, skeletons, splitd, splitctl, test tools
#   make test       install deps, build, run unit, BPF and end-to-end tests (root)
#   make demo       build, start a netns testbed and splitd, replay the seed (root)
#   make demo-rollout  the same testbed: an automated rollout, then a rollback
#   make unit       unit tests only (no root), under ASan/UBSan
#   make image      the splitd container image (podman or docker; skips without)
#   make clean
#
# Missing Debian packages are installed first by scripts/deps.sh (apt-get).

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
BUILD    := build
PKGS     := libbpf libelf zlib yaml-0.1 libpcre2-8 json-c liburing
# libcurl: its headers only. k8s_curl opens it with dlopen when the
# Kubernetes source starts; no program links it (every start of splitd
# loaded it and its 30 libraries).
PKGS_CC  := $(PKGS) libcurl

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
# user/lib, one folder per layer (see the README's Layout); a header is
# included by its name, whatever the folder.
LIB_DIRS := common model config config/istio config/k8s maps metrics l7 rollout
LIB_INC  := -Iinclude -Iuser/lib $(addprefix -Iuser/lib/,$(LIB_DIRS))
CFLAGS   += $(WARN) -std=gnu11 -D_GNU_SOURCE $(LIB_INC) -I$(BUILD)
BPF_CFLAGS := -O2 -g $(WARN) -target bpf -Iinclude -Ibpf \
	      -I/usr/include/$(shell uname -m)-linux-gnu
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS    := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
LIB_SRCS := $(foreach d,$(LIB_DIRS),$(wildcard user/lib/$(d)/*.c))
LIB_OBJS := $(patsubst user/lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRCS))
LIB_ASAN := $(patsubst user/lib/%.c,$(BUILD)/asan/lib/%.o,$(LIB_SRCS))
HDRS     := $(wildcard include/*.h bpf/*.h tests/lib/*.h) $(foreach d,$(LIB_DIRS),$(wildcard user/lib/$(d)/*.h))
# Unit tests mirror user/lib/ (tests/unit/l7/ tests user/lib/l7/, ...): each
# tests/unit/DIR/test_X.c is one binary, build/asan/unit/DIR/test_X, its suite
# named DIR/test_X. A folder's other .c files are its tests' shared fixture.
UNIT_SRCS := $(sort $(shell find tests/unit -mindepth 2 -name 'test_*.c'))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/asan/unit/%,$(UNIT_SRCS))
unit_fixture = $(filter-out $(dir $(1))test_%.c,$(wildcard $(dir $(1))*.c))
TOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/%,$(wildcard tests/tools/*.c))
PROGS    := $(BUILD)/splitd $(BUILD)/splitctl

DEPS_STAMP := $(BUILD)/.deps

.PHONY: all deps test unit bpftest fuzz e2e demo demo-rollout bench bench-quick clean image
all: $(DEPS_STAMP) $(PROGS) $(TOOLS) $(BPF_OBJS)

# The dependency step: a fresh machine needs nothing by hand.
deps $(DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(BUILD)
	@sh scripts/deps.sh
	@touch $(DEPS_STAMP)

# libhttp-parser ships no pkg-config file.
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lbpf -lelf -lz -lyaml -lpcre2-8 -ljson-c -luring) \
       -lhttp_parser -lpthread
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS_CC) 2>/dev/null)

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

$(BUILD)/lib/%.o: user/lib/%.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/asan/lib/%.o: user/lib/%.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libsplit.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/asan/libsplit.a: $(LIB_ASAN)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/splitd: $(wildcard user/splitd/*.c) $(SKELS) $(BUILD)/libsplit.a $(HDRS)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(filter %.c,$^) $(BUILD)/libsplit.a $(LIBS) -o $@

# splitctl is linked statically: it is a command people run in loops and
# scripts, and loading five shared libraries took longer than `splitctl set`
# itself (bench_ctl: about 2 ms of a 5 ms set, on this VM). It needs none of
# splitd's network libraries. SPLITCTL_STATIC=0 links it like splitd.
SPLITCTL_STATIC ?= 1
CTL_LIBS = $(if $(filter 1,$(SPLITCTL_STATIC)),-static -lbpf -lelf -lz -lyaml -lpcre2-8 -lpthread,$(LIBS))
$(BUILD)/splitctl: $(wildcard user/splitctl/*.c) $(BUILD)/libsplit.a $(HDRS)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(filter %.c,$^) $(BUILD)/libsplit.a $(CTL_LIBS) -o $@

$(BUILD)/%: tests/tools/%.c $(HDRS) | $(DEPS_STAMP)
	$(CC) $(CFLAGS) $< -o $@ -lpthread

# Test helpers that link libbpf and libsplit (the generic tool rule links neither).
LIBBPF_TOOLS := $(BUILD)/sockops_attach $(BUILD)/metrics_dump $(BUILD)/metrics_serve \
		$(BUILD)/xdp_bench $(BUILD)/match_bench $(BUILD)/mapdump $(BUILD)/k8s_dump \
		$(BUILD)/tunnel_bench $(BUILD)/reload_wait
$(LIBBPF_TOOLS): $(BUILD)/%: tests/tools/%.c $(BUILD)/libsplit.a $(SKELS) $(HDRS) | $(DEPS_STAMP)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $< $(BUILD)/libsplit.a $(LIBS) -o $@

# Unit tests: user code under ASan/UBSan.
.SECONDEXPANSION:
$(BUILD)/asan/unit/%: tests/unit/%.c $$(call unit_fixture,tests/unit/%.c) \
		$$(wildcard $$(dir tests/unit/%)*.h) tests/unit/test_main.c tests/unit/test.h \
		$(BUILD)/asan/libsplit.a $(BPF_OBJS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -Itests/unit -DTEST_SUITE='"$*"' \
		$< $(call unit_fixture,$<) tests/unit/test_main.c \
		$(BUILD)/asan/libsplit.a $(LIBS) -o $@

unit: $(UNIT_BINS)
	@sh tests/run_unit.sh $(UNIT_BINS)

# BPF tests (root): BPF_PROG_TEST_RUN on crafted packets, and the socket
# hooks on real connect()s in a private netns, under ASan/UBSan. Each
# tests/bpf/test_X.c is one binary, with the skeletons from build/.
BPF_TEST_BINS := $(patsubst tests/bpf/%.c,$(BUILD)/bpftest/%,$(wildcard tests/bpf/test_*.c))
$(BUILD)/bpftest/test_%: tests/bpf/test_%.c $(wildcard tests/bpf/*.h) tests/unit/test_main.c tests/unit/test.h $(SKELS) \
		$(BUILD)/asan/libsplit.a $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -Itests/unit -I$(BUILD) $< tests/unit/test_main.c \
		$(BUILD)/asan/libsplit.a $(LIBS) -o $@

bpftest: $(BPF_TEST_BINS)
	@sh tests/run_unit.sh $(BPF_TEST_BINS)

# libFuzzer over the YAML -> rules loaders (ASan/UBSan). `make fuzz` runs
# FUZZ_SECONDS (30); make test runs a few seconds of it.
FUZZ_SECONDS ?= 30
# One rule for the three targets, warnings as errors like the rest (fuzz_k8s
# was built without -D_GNU_SOURCE: memrchr, memmem, asprintf and accept4
# were implicitly declared, their pointers cut to int).
FUZZ_CFLAGS := -g -O1 -fsanitize=address,undefined -D_GNU_SOURCE -Wall -Wextra -Werror
# The library is compiled once for the three targets (coverage instrumented,
# not linked with libFuzzer's main), into its own archive.
FUZZ_LIB_OBJS := $(patsubst user/lib/%.c,$(BUILD)/fuzz/lib/%.o,$(LIB_SRCS))
$(BUILD)/fuzz/lib/%.o: user/lib/%.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(LIB_INC) -c $< -o $@
$(BUILD)/fuzz/libsplit.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^
FUZZ_BINS := $(BUILD)/fuzz_rules $(BUILD)/fuzz_http $(BUILD)/fuzz_k8s
$(FUZZ_BINS): $(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/fuzz/libsplit.a $(HDRS) | $(DEPS_STAMP)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(LIB_INC) $< $(BUILD)/fuzz/libsplit.a $(LIBS) -o $@
fuzz: $(FUZZ_BINS)
	@mkdir -p $(BUILD)/fuzz-corpus $(BUILD)/fuzz-http-corpus
	$(BUILD)/fuzz_rules -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		$(BUILD)/fuzz-corpus tests/data/seed tests/data/istio-bad tests/data
	$(BUILD)/fuzz_http -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		$(BUILD)/fuzz-http-corpus
	@mkdir -p $(BUILD)/fuzz-k8s-corpus
	$(BUILD)/fuzz_k8s -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		$(BUILD)/fuzz-k8s-corpus tests/data/k8s/fuzz

test: all $(UNIT_BINS) $(BPF_TEST_BINS) $(FUZZ_BINS)
	@sh tests/run_all.sh

demo: all
	@bash scripts/demo.sh
demo-rollout: all
	@bash scripts/demo_rollout.sh

# The container image (Containerfile) for deploy/; IMAGE=name:tag to name it.
IMAGE ?= split:latest
image:
	@sh scripts/image.sh $(IMAGE)

# Benchmarks (root; not part of make test, which runs them in quick mode):
# each measures us and a peer in the same run and writes its section of
# bench/results.md.
bench: all
	@for s in bench/bench_*.sh; do bash $$s || exit 1; done
bench-quick: all
	@bash bench/quick.sh

clean:
	rm -rf $(BUILD)
