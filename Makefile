# SPDX-License-Identifier: MIT
# udskit — plain GNU make. `make`, `make check`, `make check SANITIZE=1`, `make demo`,
# `make check SANITIZE=thread`, `make install PREFIX=/usr/local DESTDIR=`, `make deb`.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Where bash-completion loads a command's completion from at its first <TAB>: its .pc file's
# completionsdir (/usr/share/bash-completion/completions), and for another PREFIX the same
# place under it, which bash-completion searches for the commands installed there.
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions

VERSION    := $(shell sed -n 's/^\#define UDS_VERSION_STRING "\(.*\)"/\1/p' include/udskit.h)
SOMAJOR    := 0

CC         ?= cc
WARN       := -Wall -Wextra -Werror -Wshadow -Wformat=2
CFLAGS     ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -fPIC -fvisibility=hidden \
              -pthread
# uds_server's worker threads (uds_server_opts.threads).
LDFLAGS    += -pthread
LDLIBS_TEST := -lcmocka -lpthread
# Only the tool links OpenSSL (tls:HOST:PORT in uds proxy and uds doctor): the library
# stays libc-only.
LDLIBS_CLI := -lssl -lcrypto

# SANITIZE=1 builds everything into build/san with ASan + UBSan; `make` alone stays in build/.
ifeq ($(SANITIZE),1)
BUILD      := build/san
SAN_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_CFLAGS += $(SAN_CFLAGS)
LDFLAGS    += -fsanitize=address,undefined
# SANITIZE=thread: ThreadSanitizer into build/tsan; `make check` then runs the tests that
# start threads (scripts/run-tests.sh says which).
else ifeq ($(SANITIZE),thread)
BUILD      := build/tsan
SAN_CFLAGS := -fsanitize=thread -fno-omit-frame-pointer
ALL_CFLAGS += $(SAN_CFLAGS)
LDFLAGS    += -fsanitize=thread
else
BUILD      ?= build
endif

LIB_SRC    := $(sort $(wildcard src/lib/*.c))
CLI_SRC    := $(sort $(wildcard src/cli/*.c))
TEST_SRC   := $(sort $(wildcard tests/unit/test_*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)
FUZZER_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/fuzz_%)
REPLAY_OBJ := $(FUZZ_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/fuzz/replay.o
TEST_OBJ   := $(TEST_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/unit/testutil.o
# What each object was built from, written by the compiler (-MMD) next to it: an object is
# rebuilt when a header it includes changes, and only then.
DEPS       := $(patsubst %.o,%.d,$(LIB_OBJ) $(CLI_OBJ) $(TEST_OBJ) $(REPLAY_OBJ))

STATIC_LIB := $(BUILD)/libudskit.a
SHARED_LIB := $(BUILD)/libudskit.so.$(VERSION)
SONAME     := libudskit.so.$(SOMAJOR)

.PHONY: all lib cli tests examples replays fuzz check demo install uninstall clean deps FORCE
all: $(BUILD)/uds $(STATIC_LIB) $(BUILD)/libudskit.so $(BUILD)/udskit.pc

# The .d file is a prerequisite too: an object without one (built before it was written)
# is rebuilt once, since nothing would tell which headers it depends on. clang writes the
# .d after the object, so the object is touched to be the newer of the two.
$(BUILD)/obj/%.o: %.c $(BUILD)/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<
	@touch $@

$(DEPS): ;
.PRECIOUS: $(DEPS)
# Kept between builds, though only a link step names them.
.SECONDARY: $(TEST_OBJ) $(REPLAY_OBJ)
-include $(wildcard $(DEPS))

# The fuzz targets test internals (src/lib/internal.h).
$(BUILD)/obj/tests/fuzz/%.o: ALL_CFLAGS += -Isrc/lib

$(STATIC_LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# The version script exports what include/udskit.h declares with UDS_API, under one version
# node for the SONAME, and hides everything else; it is made from the header at each build,
# so a new public function needs no second list (tests/cli/package.bats checks the result).
VERSION_NODE := UDSKIT_$(SOMAJOR)
$(BUILD)/libudskit.map: include/udskit.h scripts/version-script.sh
	@mkdir -p $(dir $@)
	scripts/version-script.sh include/udskit.h $(VERSION_NODE) > $@.tmp
	mv $@.tmp $@

$(SHARED_LIB): $(LIB_OBJ) $(BUILD)/libudskit.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined \
	    -Wl,--version-script,$(BUILD)/libudskit.map $(LDFLAGS) -o $@ $(LIB_OBJ)

$(BUILD)/libudskit.so: $(SHARED_LIB)
	ln -sf $(notdir $(SHARED_LIB)) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/uds: $(CLI_OBJ) $(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(STATIC_LIB) $(LDLIBS_CLI)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tests/unit/testutil.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/obj/tests/unit/testutil.o $(STATIC_LIB) $(LDLIBS_TEST)

# Examples link against the shared library, as a user's program would, and are built as
# strict ISO C11 without the tree's _GNU_SOURCE: each asks for the POSIX or GNU calls it uses
# itself, so it builds with a user's flags too.
EXAMPLE_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(SAN_CFLAGS) -Iinclude
$(BUILD)/examples/%: examples/%.c include/udskit.h $(BUILD)/libudskit.so
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(EXAMPLE_CFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD) -ludskit \
	    -Wl,-rpath,'$$ORIGIN/..'

# The .pc file names PREFIX, LIBDIR and INCLUDEDIR, which `make install` may give other
# values than `make` did: the stamp changes (and the .pc is written again) whenever they do.
PC_VARS    := $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(VERSION)
$(BUILD)/udskit.pc.vars: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PC_VARS)' | cmp -s - $@ || echo '$(PC_VARS)' > $@

$(BUILD)/udskit.pc: udskit.pc.in $(BUILD)/udskit.pc.vars
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

# Each fuzz target twice: a plain replay of its corpus, built by the normal compiler and run
# by `make check`; and a libFuzzer binary (`make fuzz`, clang) to search for new inputs:
#   $(BUILD)/fuzz/fuzz_addr -max_total_time=600 tests/fuzz/corpus/addr
$(BUILD)/fuzz/replay_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o \
                       $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

FUZZ_CC    ?= clang
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC) include/udskit.h $(wildcard src/lib/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc/lib \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -o $@ $< $(LIB_SRC)

tests: $(TEST_BIN)
examples: $(EXAMPLE_BIN)
replays: $(REPLAY_BIN)
fuzz: $(FUZZER_BIN)

# Installs missing test dependencies with apt when root, else prints the command to run.
deps:
	@scripts/test-deps.sh

check: deps all tests examples replays
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) scripts/run-tests.sh

demo: $(BUILD)/uds
	@UDS=$(BUILD)/uds scripts/demo.sh

# The benchmark suite of bench/RESULTS.md: all of it (minutes), or every part briefly.
.PHONY: bench bench-smoke
bench: all
	@BUILD=$(BUILD) bench/run.sh
bench-smoke: all
	@BUILD=$(BUILD) bench/run.sh --smoke

# Real servers through `uds proxy` (redis, PostgreSQL, nginx, HAProxy; installed with apt
# when root): heavier than `make check`, run by CI.
.PHONY: interop
interop: $(BUILD)/uds
	@UDS=$(abspath $(BUILD))/uds tests/interop/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BUILD)/uds $(DESTDIR)$(BINDIR)/uds
	install -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libudskit.a
	install -m 0755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/$(notdir $(SHARED_LIB))
	ln -sf $(notdir $(SHARED_LIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libudskit.so
	install -m 0644 include/udskit.h $(DESTDIR)$(INCLUDEDIR)/udskit.h
	install -m 0644 $(BUILD)/udskit.pc $(DESTDIR)$(PKGCONFIGDIR)/udskit.pc
	install -m 0644 man/uds.1 $(DESTDIR)$(MANDIR)/man1/uds.1
	if [ -f man/udskit.3 ]; then install -m 0644 man/udskit.3 $(DESTDIR)$(MANDIR)/man3/udskit.3; fi
	install -m 0644 completion/uds.bash $(DESTDIR)$(BASHCOMPDIR)/uds

# The Debian packages uds, libudskit0 and libudskit-dev (debian/), into $(BUILD)/deb/. They
# are built by dpkg-buildpackage in a copy of the tree, as from a source package: nothing is
# written outside $(BUILD), and none of this make's variables (SANITIZE=1, BUILD=...) reaches
# the packages' build.
DEB_DIR    := $(BUILD)/deb
DEB_SRC    := $(DEB_DIR)/udskit-$(VERSION)
.PHONY: deb
deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	tar -c --exclude=./.git --exclude=./build --exclude=./$(BUILD) -f - . | tar -x -C $(DEB_SRC) -f -
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u BUILD \
	    dpkg-buildpackage -us -uc -b -Jauto
	rm -rf $(DEB_SRC)
	@ls $(DEB_DIR)/*.deb

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/uds $(DESTDIR)$(LIBDIR)/libudskit.a \
	    $(DESTDIR)$(LIBDIR)/libudskit.so* $(DESTDIR)$(INCLUDEDIR)/udskit.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/udskit.pc $(DESTDIR)$(MANDIR)/man1/uds.1 \
	    $(DESTDIR)$(MANDIR)/man3/udskit.3 $(DESTDIR)$(BASHCOMPDIR)/uds

clean:
	rm -rf $(BUILD)
