# SecureChat: top-level, non-recursive GNU Makefile.
#
# Every program is the set of .c files in its folder, linked with the
# common/ static library; every tests/<kind>/test_*.c is one cmocka program.
# Objects live under $(BUILD) (out of tree); `make -j` is safe.

BUILD      ?= build
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/securechat
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= /lib/systemd/system
SYSUSERSDIR?= /usr/lib/sysusers.d
TMPFILESDIR?= /usr/lib/tmpfiles.d
DESTDIR    ?=

CC         ?= cc
V          ?= 0
Q           = $(if $(filter 1,$(V)),,@)
PKG_CONFIG ?= pkg-config
PKGS        = libcrypto mysqlclient libbsd-overlay libsystemd libseccomp jansson

WARN   = -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wno-format-nonliteral \
         -Wstrict-prototypes -Wmissing-prototypes -Werror
HARDEN = -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
OPT    = -O2 -g
ifeq ($(SANITIZE),1)
OPT    = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
         -fno-sanitize-recover=undefined
HARDEN = -fstack-protector-strong -fPIE
SANLD  = -fsanitize=address,undefined
override BUILD := $(BUILD)-san
endif

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

CPPFLAGS += -D_GNU_SOURCE -I. -Icommon -DSYSCONFDIR='"$(SYSCONFDIR)"' \
            -DLIBEXECDIR='"$(LIBEXECDIR)"'
CFLAGS   += -std=gnu11 $(OPT) $(WARN) $(HARDEN) $(PKG_CFLAGS) -MMD -MP
LDFLAGS  += -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SANLD)
LDLIBS   += $(PKG_LIBS)

# Programs: name => folder. The daemons keyd, authd and router, and the
# per-connection worker session, are started by securechatd from
# LIBEXECDIR; the rest are user-facing.  <name>_EXTRA: sources of another
# folder linked in too.
PROGRAMS = securechatd sc-client sc-admin keyd authd router session
securechatd_DIR = securechatd
sc-client_DIR   = sc-client
sc-admin_DIR    = sc-admin
keyd_DIR        = keyd
authd_DIR       = authd
router_DIR      = router
session_DIR     = session
# The worker parses the configuration the master hands it.
session_EXTRA   = securechatd/conf.c

COMMON_SRC = $(wildcard common/*.c)
COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
COMMON_LIB = $(BUILD)/lib/libsccommon.a

TESTLIB_SRC = $(wildcard tests/lib/*.c)
TESTLIB_OBJ = $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
TESTLIB     = $(BUILD)/lib/libsctest.a

TEST_SRC  = $(wildcard tests/unit/test_*.c tests/integration/test_*.c tests/attack/test_*.c tests/fault/test_*.c)
TEST_BINS = $(TEST_SRC:%.c=$(BUILD)/%)

# Programs whose folder exists (folders are created when they get content).
BUILT_PROGRAMS = $(foreach p,$(PROGRAMS),$(if $(wildcard $($(p)_DIR)/*.c),$(p)))
BINS = $(BUILT_PROGRAMS:%=$(BUILD)/bin/%)

.PHONY: all check demo deps install clean test-bins bench fuzz
.DEFAULT_GOAL := all

all: $(BINS)

define program_rule
$(1)_SRC := $$(wildcard $$($(1)_DIR)/*.c) \
            $$($(1)_EXTRA)
$(1)_OBJ := $$($(1)_SRC:%.c=$$(BUILD)/obj/%.o)
$$(BUILD)/bin/$(1): $$($(1)_OBJ) $$(COMMON_LIB)
	@mkdir -p $$(@D)
	@echo "LD $$@"
	$$(Q)$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$($(1)_OBJ) $$(COMMON_LIB) $$(LDLIBS)
endef
$(foreach p,$(BUILT_PROGRAMS),$(eval $(call program_rule,$(p))))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "CC $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(COMMON_LIB): $(COMMON_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	@echo "AR $@"
	$(Q)$(AR) rcs $@ $^

$(TESTLIB): $(TESTLIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	@echo "AR $@"
	$(Q)$(AR) rcs $@ $^

$(BUILD)/tests/%: tests/%.c $(TESTLIB) $(COMMON_LIB)
	@mkdir -p $(@D)
	@echo "CCLD $@"
	$(Q)$(CC) $(CPPFLAGS) -Itests/lib $(CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(TESTLIB) $(COMMON_LIB) $(LDLIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

test-bins: $(BINS) $(TEST_BINS)

# The test runner prints each program's cmocka output and a closing
# "N passed, N failed" line; it exits non-zero on any failure.
check: deps
	$(MAKE) test-bins
	BUILD=$(BUILD) sh tests/run.sh $(TEST_BINS)

demo: deps all
	BUILD=$(BUILD) bash tests/demo.sh

bench: deps all
	BUILD=$(BUILD) sh tests/bench/run.sh

# ---- Fuzzing and valgrind (tests/fuzz/, tests/valgrind.sh) --------------
# `make fuzz` builds one libFuzzer program per tests/fuzz/fuzz_*.c with
# clang, ASan and UBSan into $(FUZZ_BUILD), with common/ compiled again
# for coverage; `make fuzz-run` runs each for FUZZ_TIME seconds on its
# checked-in corpus (tests/fuzz/run.sh).  `make valgrind` runs the unit
# test programs under valgrind.  clang and valgrind are not in DEB_PKGS
# (the normal build does not need them): these rules say what to install.
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= $(BUILD)-fuzz
FUZZ_TIME    ?= 60
FUZZ_DEBS     = clang libclang-rt-14-dev
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = -std=gnu11 -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) \
                $(filter-out -Werror,$(WARN)) -Wno-missing-field-initializers \
                $(PKG_CFLAGS)
FUZZ_SRC      = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS     = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ  = $(COMMON_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_LIB      = $(FUZZ_BUILD)/lib/libsccommon.a
# The harnesses #include these product files (tests/fuzz/fuzz.h says why).
FUZZ_DEPS     = $(wildcard tests/fuzz/*.h common/*.h) keyd/sign.c keyd/keyd.h \
                securechatd/conf.c securechatd/securechatd.h \
                session/authd_wrap.c authd/authd.h router/route.c \
                router/router.h authd/msg.c authd/msg.h

.PHONY: fuzz-run valgrind
fuzz:
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)%s\n' \
	    '{ (void)d; (void)n; return 0; }' | \
	    $(FUZZ_CC) -fsanitize=fuzzer -x c -o /dev/null - 2>/dev/null || { \
	    echo "make fuzz: $(FUZZ_CC) with libFuzzer is missing; as root run:"; \
	    echo "  apt-get install -y --no-install-recommends $(FUZZ_DEBS)"; \
	    exit 1; }
	$(MAKE) $(FUZZ_BINS)

fuzz-run: fuzz
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_TIME=$(FUZZ_TIME) sh tests/fuzz/run.sh

valgrind: test-bins
	BUILD=$(BUILD) sh tests/valgrind.sh

$(FUZZ_BUILD)/obj/%.o: %.c $(wildcard common/*.h)
	@mkdir -p $(@D)
	@echo "CC(fuzz) $<"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	@echo "AR $@"
	$(Q)$(AR) rcs $@ $^

# Harnesses are ours: they must build without a warning.
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) $(FUZZ_DEPS)
	@mkdir -p $(@D)
	@echo "CCLD(fuzz) $@"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -Itests/fuzz $(FUZZ_CFLAGS) -Werror \
	    -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LDLIBS)
# ---- end of fuzzing and valgrind ---------------------------------------

# Debian packages needed to build, test and run. Installed when root,
# otherwise the exact apt-get line is printed.
DEB_PKGS = build-essential pkg-config libssl-dev openssl libmariadb-dev \
           libmariadb-dev-compat libbsd-dev libsystemd-dev libcmocka-dev \
           libseccomp-dev libjansson-dev mariadb-server mariadb-client systemd \
           procps iproute2 tcpdump
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	        grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	    echo "make deps: installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	    echo "make deps: missing packages; as root run:"; \
	    echo "  apt-get install -y$$missing"; exit 1; \
	fi

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)
	$(foreach p,$(filter sc-client,$(BUILT_PROGRAMS)),install -m 0755 $(BUILD)/bin/$(p) $(DESTDIR)$(BINDIR)/$(p);)
	$(foreach p,$(filter securechatd sc-admin,$(BUILT_PROGRAMS)),install -m 0755 $(BUILD)/bin/$(p) $(DESTDIR)$(SBINDIR)/$(p);)
	$(foreach p,$(filter keyd authd router session,$(BUILT_PROGRAMS)),install -m 0755 $(BUILD)/bin/$(p) $(DESTDIR)$(LIBEXECDIR)/$(p);)
	if [ -d docs/man ]; then for m in docs/man/*.[0-9]; do \
	    s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
	    install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done; fi
	if [ -d etc ]; then install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/securechat; \
	    for f in etc/*; do [ -e $(DESTDIR)$(SYSCONFDIR)/securechat/$${f##*/} ] || \
	        install -m 0644 $$f $(DESTDIR)$(SYSCONFDIR)/securechat/; done; fi
	if [ -d systemd ]; then install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR); \
	    for f in systemd/*.service systemd/*.socket; do [ -e "$$f" ] && \
	        sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$f > $(DESTDIR)$(UNITDIR)/$${f##*/}; done; \
	    [ -e systemd/sysusers.conf ] && install -m 0644 systemd/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/securechat.conf; \
	    [ -e systemd/tmpfiles.conf ] && install -m 0644 systemd/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/securechat.conf; true; fi

clean:
	rm -rf build build-san build-* run

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
