# lienwatch - GNU Makefile
#
#   make            build daemon, CLI, bridge, tools, the core and runtime
#                   libraries, and the systemd units (from systemd/*.in)
#   make deps       install the Debian packages needed to build and test
#   make test       build + unit tests + integration tests (in parallel,
#                   JOBS at a time, default: CPUs): the everyday run
#   make check      deps + build + every test (unit, integration, ASan/UBSan,
#                   valgrind, short fuzz runs)
#   make demo       deps + build + a local demo on a private broker
#   make bench      deps + build + benchmark table
#   make asan       build with AddressSanitizer + UBSan into build/asan
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS (default 60)
#   make install / uninstall   honour PREFIX, SYSCONFDIR, DESTDIR
#   make man        rewrite docs/man/lienwatch.1 from the CLI's help texts
#
# Variables: CC, BUILD (output dir), SANITIZER (e.g. address,undefined),
# WERROR (default 1), V=1 for verbose commands.

CC      ?= cc
BUILD   ?= build
WERROR  ?= 1
PREFIX  ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
DATADIR ?= $(PREFIX)/share
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKGS := libmosquitto sqlite3 jansson inih geos libsodium libgps libcurl \
        libsystemd libssl libcrypto libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIB_LIBS   := $(shell pkg-config --libs sqlite3 jansson inih geos libsodium 2>/dev/null) -lm
DAEMON_LIBS := $(shell pkg-config --libs libmosquitto libcurl libsystemd 2>/dev/null) -lev
GPS_LIBS   := $(shell pkg-config --libs libgps 2>/dev/null)
WEB_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null) -lev
# what the runtime library (runtime/, liblwrt) needs
RT_LIBS    := $(shell pkg-config --libs libmosquitto libssl libcrypto \
              2>/dev/null) -lev -pthread
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla -Wno-format-nonliteral
ifeq ($(WERROR),1)
WARN += -Werror
endif
CFLAGS ?= -O2 -g
override CFLAGS += -std=c17 -D_GNU_SOURCE -Iinclude -I. $(WARN) $(PKG_CFLAGS) \
        -DLW_VERSION='"$(VERSION)"' -MMD -MP
ifneq ($(SANITIZER),)
override CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZER)
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC    := $(wildcard lib/*.c)
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIBLW      := $(BUILD)/lib/liblienwatch.a
# the runtime helpers the programs share (log, clock, secrets, MQTT glue)
RT_SRC     := $(wildcard runtime/*.c)
RT_OBJ     := $(RT_SRC:%.c=$(BUILD)/obj/%.o)
LIBLWRT    := $(BUILD)/lib/liblwrt.a
DAEMON_SRC := $(wildcard daemon/*.c)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC    := $(wildcard cli/*.c)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
GB_SRC     := $(wildcard gpsbridge/*.c)
GB_OBJ     := $(GB_SRC:%.c=$(BUILD)/obj/%.o)
WEB_SRC    := $(wildcard web/*.c)
WEB_OBJ    := $(WEB_SRC:%.c=$(BUILD)/obj/%.o)
# each directory tools/<name>/ builds build/bin/<name>
TOOLS      := $(notdir $(patsubst %/,%,$(wildcard tools/*/)))
TOOL_BINS  := $(TOOLS:%=$(BUILD)/bin/%)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# systemd/NAME.service.in -> BUILD/systemd/NAME.service
UNIT_FILES := $(patsubst systemd/%.in,$(BUILD)/systemd/%,\
              $(wildcard systemd/*.service.in))

BINS := $(BUILD)/bin/lienwatchd $(BUILD)/bin/lienwatch \
        $(BUILD)/bin/lw-gpsbridge $(BUILD)/bin/lienwatch-web $(TOOL_BINS)

.PHONY: all deps check test unit integration asan asan-check valgrind fuzz \
        fuzz-build bench demo clean install uninstall lint format-check \
        units man FORCE
all: $(BINS) $(UNIT_BINS) $(UNIT_FILES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC  $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIBLW): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

$(LIBLWRT): $(RT_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/bin/lienwatchd: $(DAEMON_OBJ) $(LIBLWRT) $(LIBLW)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(DAEMON_OBJ) $(LIBLWRT) $(LIBLW) $(LIB_LIBS) \
		$(DAEMON_LIBS) $(RT_LIBS)

$(BUILD)/bin/lw-gpsbridge: $(GB_OBJ) $(LIBLWRT) $(LIBLW)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(GB_OBJ) $(LIBLWRT) $(LIBLW) $(LIB_LIBS) \
		$(DAEMON_LIBS) $(GPS_LIBS) $(RT_LIBS)

# where make install puts the page (web/static/)
$(BUILD)/obj/web/main.o: override CFLAGS += \
	-DLWW_STATIC_DIR='"$(DATADIR)/lienwatch/web"'

$(BUILD)/bin/lienwatch-web: $(WEB_OBJ) $(LIBLWRT) $(LIBLW)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(WEB_OBJ) $(LIBLWRT) $(LIBLW) $(LIB_LIBS) \
		$(WEB_LIBS) $(RT_LIBS)

$(BUILD)/bin/lienwatch: $(CLI_OBJ) $(LIBLW)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBLW) $(LIB_LIBS)

# objects of tools/<name>/*.c; a function, so that the '%' of patsubst is
# not taken for the pattern rule's stem under secondary expansion
tool_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/$(1)/*.c))

.SECONDEXPANSION:
$(BUILD)/bin/%: $$(call tool_objs,$$*) $(LIBLW)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBLW) $(LIB_LIBS) $(DAEMON_LIBS) $(GPS_LIBS)

# unit tests of the runtime library: tests/unit/test_rt_*.c
$(BUILD)/tests/test_rt_%: $(BUILD)/obj/tests/unit/test_rt_%.o $(LIBLWRT)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBLWRT) $(RT_LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBLW)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBLW) $(LIB_LIBS) $(CMOCKA_LIBS)

# The units name the installed paths: made again when one of them changes
# (the stamp holds the values they were made with).
UNIT_SUBST := SBINDIR=$(SBINDIR) BINDIR=$(BINDIR) SYSCONFDIR=$(SYSCONFDIR)
$(BUILD)/systemd/paths: FORCE
	@mkdir -p $(dir $@)
	@echo '$(UNIT_SUBST)' | cmp -s - $@ || echo '$(UNIT_SUBST)' > $@

$(BUILD)/systemd/%.service: systemd/%.service.in $(BUILD)/systemd/paths
	@$(if $(Q),echo "  GEN $@")
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
		-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@.tmp
	$(Q)if grep -n '@[A-Z_]*@' $@.tmp; then \
		echo "$<: a placeholder is not substituted" >&2; rm -f $@.tmp; exit 1; fi
	$(Q)mv $@.tmp $@

units: $(UNIT_FILES)

FORCE:

deps:
	@build-aux/deps.sh

unit: $(UNIT_BINS)
	@tests/run-unit.sh $(BUILD)

integration: $(BINS)
	@tests/run-integration.sh $(BUILD)

# Build (in parallel with make -j), then the unit tests, then the
# integration tests JOBS at a time (tests/run-integration.sh; JOBS=1 for
# one at a time, ONLY=REGEX for some).
test: $(BINS) $(UNIT_BINS)
	@tests/run-unit.sh $(BUILD)
	@tests/run-integration.sh $(BUILD)

# The full suite as CI runs it: plain build, then the same suite under
# ASan+UBSan, valgrind on the unit tests and the daemon, short fuzz runs.
check: deps
	@tests/check.sh

asan:
	$(MAKE) BUILD=build/asan SANITIZER=address,undefined CFLAGS="-O1 -g"

valgrind: $(UNIT_BINS) $(BINS)
	@LW_VALGRIND=1 tests/run-unit.sh $(BUILD)

FUZZ_SECONDS ?= 60
fuzz-build:
	@tests/fuzz/build.sh

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# Targets that install packages first build in a second make: this one read
# the pkg-config flags when it started, before `deps` had installed the .pc
# files, so on a fresh machine they are empty here; the sub-make reads them
# again now that the packages are there.
bench: deps
	@$(MAKE) --no-print-directory all
	@tools/bench.py $(BUILD)
	@tools/bench_kill9.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory all
	@tools/demo.sh $(BUILD)

# lienwatch(1) is written from 'lienwatch --help' and 'lienwatch help CMD';
# the page is committed, and tests/integration/test_manual.sh fails
# while it differs from what this writes.
man: $(BUILD)/bin/lienwatch
	@build-aux/gen-cli-man.py $(BUILD)/bin/lienwatch docs/man/lienwatch.1

lint:
	clang-tidy $(LIB_SRC) $(RT_SRC) $(DAEMON_SRC) $(CLI_SRC) $(GB_SRC) -- -std=c17 -D_GNU_SOURCE -Iinclude -I. $(PKG_CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability -Iinclude -I. lib runtime daemon cli gpsbridge tools

format-check:
	clang-format --dry-run --Werror $(LIB_SRC) $(RT_SRC) $(DAEMON_SRC) $(CLI_SRC) $(GB_SRC)

# The directories the Makefile was given go to the script too.
INSTALL_ENV := SBINDIR="$(SBINDIR)" BINDIR="$(BINDIR)" MANDIR="$(MANDIR)" \
               UNITDIR="$(UNITDIR)" DATADIR="$(DATADIR)"
install: all
	@$(INSTALL_ENV) build-aux/install.sh install "$(DESTDIR)" "$(PREFIX)" \
		"$(SYSCONFDIR)" "$(BUILD)"

uninstall:
	@$(INSTALL_ENV) build-aux/install.sh uninstall "$(DESTDIR)" "$(PREFIX)" \
		"$(SYSCONFDIR)" "$(BUILD)"

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
