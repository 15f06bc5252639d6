# connstate: build, test, run, bench, asan, fuzz, install.
# One hand-written GNU Makefile; pkg-config for every library.

VERSION    := 0.1.0
CC         ?= cc
PREFIX     ?= /usr/local
BUILD      ?= build
BIN        ?= bin
LIBDIR     ?= lib
PLUGINDIR  := $(LIBDIR)/connstate/plugins

WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes
CFLAGS     ?= -O2 -g
# include/ holds the installed API only; the internal headers live beside their code.
INCLUDES   := -Iinclude -Icommon -Iproto
ALL_CFLAGS := -std=c11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -fPIC $(INCLUDES) \
              -DCS_VERSION='"$(VERSION)"' -MMD -MP
ifeq ($(WERROR),1)
ALL_CFLAGS += -Werror
endif
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ifeq ($(SAN),1)
ALL_CFLAGS += $(SAN_FLAGS)
LDFLAGS    += $(SAN_FLAGS)
endif

PKGS       := libzmq libczmq msgpack libpq jansson
CLIB_PKGS  := libzmq libczmq msgpack libpq
SUP_PKGS   := libmicrohttpd

# Library flags come from pkg-config once, cached in $(BUILD)/config.mk. Building that file
# first runs deploy/install-deps.sh when a dependency is missing, so a fresh clone needs
# nothing else. Targets that need no compiler never trigger it.
NODEPS_GOALS := clean format format-check help
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
-include $(BUILD)/config.mk
endif

$(BUILD)/config.mk: deploy/install-deps.sh
	@deploy/install-deps.sh --check 2>/dev/null || deploy/install-deps.sh
	@mkdir -p $(BUILD)
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags $(PKGS))"; \
	   echo "PKG_LIBS := $$(pkg-config --libs $(PKGS))"; \
	   echo "CLIB_PKG_LIBS := $$(pkg-config --libs $(CLIB_PKGS))"; \
	   echo "SUP_PKG_CFLAGS := $$(pkg-config --cflags $(SUP_PKGS))"; \
	   echo "SUP_PKG_LIBS := $$(pkg-config --libs $(SUP_PKGS))"; \
	   echo "CMOCKA_LIBS := $$(pkg-config --libs cmocka)"; } > $@.tmp && mv $@.tmp $@

# A config.mk written before SUP_PKG_LIBS was added to it is written again.
ifndef SUP_PKG_LIBS
$(BUILD)/config.mk: FORCE
endif
FORCE:

ALL_CFLAGS += $(PKG_CFLAGS) $(SUP_PKG_CFLAGS)

COMMON_SRC := $(wildcard common/*.c) $(wildcard proto/*.c)
SUP_SRC    := $(wildcard supervisor/*.c)
WRK_SRC    := $(wildcard workers/*.c)
CLIB_SRC   := $(wildcard client/lib/*.c)
# What libconnstate's API needs of common/ and proto/: logging, buffers, the wire codec, CURVE keys.
CLIB_USES  := $(filter %/log.c %/clock.c %/buf.c %/check.c %/codec.c %/wire.c %/curve.c,$(COMMON_SRC))
CLI_SRC    := $(wildcard client/cli/*.c)
PLUGIN_NAMES := $(patsubst plugins/%/,%,$(dir $(wildcard plugins/*/main.c)))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
TESTLIB_SRC := $(wildcard tests/unit/lib/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CLIB_OBJ   := $(call obj,$(CLIB_SRC) $(CLIB_USES))

COMMON_LIB := $(BUILD)/libcscommon.a
SUP_LIB    := $(BUILD)/libcssupervisor.a
DASHBOARD_OBJ := $(BUILD)/obj/gen/dashboard_page.o
PROGRAMS   := $(BIN)/connstate-supervisor $(BIN)/connstate-worker $(BIN)/connstate
MAN_PAGES  := $(BUILD)/man/connstate.1 $(BUILD)/man/connstate-supervisor.8 \
              $(BUILD)/man/connstate-worker.8
CLIENT_LIBS := $(LIBDIR)/libconnstate.a $(LIBDIR)/libconnstate.so
PLUGIN_BINS := $(PLUGIN_NAMES:%=$(PLUGINDIR)/%)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/bench_*.c))
BENCH_TOOLS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/tool_*.c))
DRIVER_BINS := $(patsubst tests/drivers/%.c,$(BUILD)/tests/drivers/%,$(wildcard tests/drivers/*.c))

.PHONY: all test test-unit test-integration asan fuzz format format-check clean run bench bench-scale \
        install deps help FORCE
.DEFAULT_GOAL := all

all: $(PROGRAMS) $(CLIENT_LIBS) $(PLUGIN_BINS) $(MAN_PAGES)

# The man pages, from the programs' own --help (man/mkman.sh): they cannot disagree.
MAN_DATE := $(shell git log -1 --format=%cs 2>/dev/null || date -u +%F)
$(BUILD)/man/%.1: $(BIN)/% man/mkman.sh
	@mkdir -p $(dir $@)
	@man/mkman.sh $< 1 $(MAN_DATE) >$@.tmp && mv $@.tmp $@
$(BUILD)/man/%.8: $(BIN)/% man/mkman.sh
	@mkdir -p $(dir $@)
	@man/mkman.sh $< 8 $(MAN_DATE) >$@.tmp && mv $@.tmp $@

help:
	@echo "make [all]        build the programs, libconnstate and the plugins"
	@echo "make run          start an embedded PostgreSQL, the supervisor and workers (example config)"
	@echo "make test         every unit and integration test; last line: N passed, M failed"
	@echo "make asan         the tests under address+undefined sanitizers"
	@echo "make fuzz         the libFuzzer targets, FUZZ_SECONDS each (default 60)"
	@echo "make bench        benchmarks (QUICK=1 for about a minute)"
	@echo "make bench-scale  the benchmarks at 10,000 and 100,000 connections (6 to 35 minutes;"
	@echo "                  SCALES=\"2000 20000\" ROUNDS=1 for a quick run; or make bench SCALE=N)"
	@echo "make format-check clang-format against .clang-format"
	@echo "make install      into PREFIX (default /usr/local)"
	@echo "make deps         install missing Debian packages (deploy/install-deps.sh)"

deps:
	@deploy/install-deps.sh

$(BUILD)/obj/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BIN)/connstate-supervisor: $(call obj,$(SUP_SRC)) $(DASHBOARD_OBJ) $(COMMON_LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(SUP_PKG_LIBS)

$(BIN)/connstate-worker: $(call obj,$(WRK_SRC)) $(COMMON_LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# connstate plan computes what the supervisor's plan would be: it links the supervisor's modules.
$(BIN)/connstate: $(call obj,$(CLI_SRC)) $(SUP_LIB) $(LIBDIR)/libconnstate.a $(COMMON_LIB)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(SUP_PKG_LIBS)

# libconnstate: only what connstate.h marks CONNSTATE_EXPORT leaves the shared library
# (-fvisibility=hidden); -z defs: CLIB_USES and CLIB_PKGS are all it needs. The static
# library keeps the internal symbols (a static link needs them).
$(CLIB_OBJ): ALL_CFLAGS += -fvisibility=hidden

$(LIBDIR)/libconnstate.a: $(CLIB_OBJ)
	@mkdir -p $(LIBDIR)
	@rm -f $@
	ar rcs $@ $^

$(LIBDIR)/libconnstate.so: $(CLIB_OBJ)
	@mkdir -p $(LIBDIR)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libconnstate.so.0 -Wl,-z,defs -o $@ $^ $(CLIB_PKG_LIBS)

$(PLUGINDIR)/%: $(BUILD)/obj/plugins/%/main.o $(BUILD)/obj/plugins/plugin.o $(COMMON_LIB)
	@mkdir -p $(PLUGINDIR)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The csv plugin reads files in a file of its own, which its unit tests link too.
$(PLUGINDIR)/csv: $(BUILD)/obj/plugins/csv/csv.o
$(BUILD)/tests/test_csv: $(BUILD)/obj/plugins/csv/csv.o

# The dashboard's page, built into the supervisor as a C array of its bytes (od and sed: no
# tool beyond the base system).
$(BUILD)/gen/dashboard_page.c: supervisor/dashboard.html
	@mkdir -p $(dir $@)
	@{ echo "/* Generated from supervisor/dashboard.html by the Makefile. */"; \
	   echo "#include <stddef.h>"; echo "const char cs_dashboard_page[] = {"; \
	   od -An -v -tu1 $< | sed 's/[0-9][0-9]*/&,/g'; echo "0};"; \
	   echo "const size_t cs_dashboard_page_len = sizeof cs_dashboard_page - 1;"; } >$@.tmp && \
	   mv $@.tmp $@
$(DASHBOARD_OBJ): $(BUILD)/gen/dashboard_page.c $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The supervisor's modules but its main(), for their unit tests.
$(SUP_LIB): $(call obj,$(filter-out supervisor/main.c,$(SUP_SRC))) $(DASHBOARD_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(TESTLIB_SRC)) $(SUP_LIB) \
                  $(LIBDIR)/libconnstate.a $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(SUP_PKG_LIBS) $(CMOCKA_LIBS)

# The worker's pure functions, for their unit tests.
$(BUILD)/tests/test_aggregate: $(BUILD)/obj/workers/aggregate.o

# ---- tests ---------------------------------------------------------------------------------

$(BUILD)/tests/drivers/%: $(BUILD)/obj/tests/drivers/%.o $(LIBDIR)/libconnstate.a $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

test: all $(UNIT_BINS) $(DRIVER_BINS)
	@BUILD=$(BUILD) BIN=$(BIN) LIBDIR=$(LIBDIR) tests/run.sh

test-unit: $(UNIT_BINS)
	@BUILD=$(BUILD) BIN=$(BIN) LIBDIR=$(LIBDIR) tests/run.sh --unit

test-integration: all $(DRIVER_BINS)
	@BUILD=$(BUILD) BIN=$(BIN) LIBDIR=$(LIBDIR) tests/run.sh --integration

# The tests again, every object built with address+undefined sanitizers in build/asan.
ASAN_DIRS := BUILD=build/asan BIN=build/asan/bin LIBDIR=build/asan/lib SAN=1
asan:
	@$(MAKE) --no-print-directory $(ASAN_DIRS) $(if $(ASAN_UNIT_ONLY),test-unit,test)

# ---- fuzzing (clang + libFuzzer) -----------------------------------------------------------

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_ONLY    ?= $(FUZZ_TARGETS)
FUZZ_CFLAGS  := -std=c11 -g -O1 -D_GNU_SOURCE $(INCLUDES) -DCS_VERSION='"$(VERSION)"' \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(PKG_CFLAGS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(COMMON_SRC) $(wildcard include/*.h common/*.h proto/*.h) \
                 $(BUILD)/config.mk
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(COMMON_SRC) $(FUZZ_EXTRA) $(PKG_LIBS)

# The csv fuzzer reads records with the plugin's own code.
$(BUILD)/fuzz/fuzz_csv: FUZZ_EXTRA := plugins/csv/csv.c
$(BUILD)/fuzz/fuzz_csv: plugins/csv/csv.c plugins/csv/csv.h

$(BUILD)/fuzz/make_seeds: tests/fuzz/make_seeds.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS)

# Seeds: one encoding of every message (generated), plus committed files under tests/fuzz/seeds;
# the config fuzzer also starts from the Steampipe directory of tests/fixtures/steampipe.
fuzz: $(FUZZ_ONLY:%=$(BUILD)/fuzz/%) $(BUILD)/fuzz/make_seeds
	@for t in $(FUZZ_ONLY); do \
	    mkdir -p $(BUILD)/fuzz/corpus-$$t; \
	    [ $$t = fuzz_proto ] && $(BUILD)/fuzz/make_seeds $(BUILD)/fuzz/corpus-$$t; \
	    seeds=tests/fuzz/seeds/$${t#fuzz_}; [ -d $$seeds ] || seeds=; \
	    [ $$t = fuzz_config ] && seeds="$$seeds tests/fixtures/steampipe"; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    dict=tests/fuzz/$$t.dict; [ -f $$dict ] && dict=-dict=$$dict || dict=; \
	    $(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
	        -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus-$$t $$seeds \
	        2>$(BUILD)/fuzz/$$t.log || { tail -50 $(BUILD)/fuzz/$$t.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' $(BUILD)/fuzz/$$t.log; \
	done

# ---- formatting, running, installing -------------------------------------------------------

FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]')
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format-check: clean"

run: all
	@deploy/run.sh

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBDIR)/libconnstate.a $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

bench: all $(BENCH_BINS) $(BENCH_TOOLS)
ifeq ($(SCALE),)
	@BUILD=$(BUILD) BIN=$(BIN) bench/run.sh $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))
else
	@BUILD=$(BUILD) BIN=$(BIN) SCALES="10000 $(SCALE)" $(if $(ROUNDS),ROUNDS=$(ROUNDS)) bench/scale.sh
endif

# The scale benchmark: SCALES (two numbers of connections, default "10000 100000"), ROUNDS
# (default 3); `make bench SCALE=N` is the same with "10000 N".
bench-scale: all $(BENCH_TOOLS)
	@BUILD=$(BUILD) BIN=$(BIN) $(if $(SCALES),SCALES="$(SCALES)") $(if $(ROUNDS),ROUNDS=$(ROUNDS)) \
	    bench/scale.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/connstate/plugins \
	    $(DESTDIR)$(PREFIX)/include
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(PLUGIN_BINS) $(DESTDIR)$(PREFIX)/lib/connstate/plugins
	install -m 644 $(CLIENT_LIBS) $(DESTDIR)$(PREFIX)/lib
	install -m 644 include/connstate.h $(DESTDIR)$(PREFIX)/include
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 644 $(BUILD)/man/connstate.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(BUILD)/man/connstate-supervisor.8 $(BUILD)/man/connstate-worker.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8

clean:
	rm -rf build bin lib

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
.SECONDARY:
