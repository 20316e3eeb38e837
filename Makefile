# BTC Watcher: one static library, six daemons, their tests.
#
#   make              build libcommon.a and every daemon into $(BUILD)/
#   make test         sanitizer build + every unit and integration test
#   make run / stop   the local stack (scripts/stack)
#
# SANITIZE=address,undefined builds with those sanitizers (make test does
# so in build/asan). Header dependencies are tracked with -MMD.

BUILD    ?= build
VERSION  := 0.1.0
SANITIZE ?=
CC       := gcc
MAKEFLAGS += -j2 --no-builtin-rules

PKGS     := libevent libevent_pthreads libcurl libcjson libpq hiredis yaml-0.1 \
            libjwt libcrypto nettle
WARN     := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes \
            -Wold-style-definition -Wpointer-arith -Wformat=2 -Wshadow \
            -Wundef -Wvla -Wwrite-strings -fno-common
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -pthread $(WARN) -I. -I$(BUILD)/gen \
            -DBTCW_VERSION='"$(VERSION)"' \
            $(shell pkg-config --cflags $(PKGS))
LDLIBS   := $(shell pkg-config --libs $(PKGS)) -lnng -largon2 -pthread -lm
# A daemon may have its own link line (LDLIBS_<name>), without what it
# does not use: the sanitizer builds link without --as-needed, and what
# is linked costs every process RSS. ftsim runs up to 999 times: nettle
# for its JWTs and libcommon's WebSocket accept key; OpenSSL for https
# webhooks is loaded at run time (tls.c).
LDLIBS_ftsim := $(shell pkg-config --libs libevent libcjson nettle) -lm
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
            -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

SERVICES := $(notdir $(wildcard services/*))
LIB_SRC  := $(wildcard libcommon/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/lc_schema.o
SQL      := $(sort $(wildcard libcommon/schema/*.sql))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ITEST_SRC:= $(wildcard tests/integration/*.c)
ITEST_BIN:= $(ITEST_SRC:tests/integration/%.c=$(BUILD)/tests/%)
BINS     := $(SERVICES:%=$(BUILD)/%)

.PHONY: all tests test run stop status clean deps
.SECONDARY:
all: $(BUILD)/libcommon.a $(BINS)
tests: $(UNIT_BIN) $(ITEST_BIN)

# Objects depend on the flags they were built with: switching SANITIZE in
# one build folder rebuilds instead of mixing.
STAMP    := $(BUILD)/.flags
$(shell mkdir -p $(BUILD) && echo '$(CFLAGS) $(LDFLAGS)' | \
	cmp -s - $(STAMP) || echo '$(CFLAGS) $(LDFLAGS)' > $(STAMP))

# V=1 shows the full commands.
Q := $(if $(V),,@)
$(BUILD)/obj/%.o: %.c $(STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The SQL migrations are compiled into libcommon.a, so a daemon (or its
# container) needs no schema files at run time.
$(BUILD)/gen/lc_schema.c: $(SQL) scripts/embed-sql.sh
	@mkdir -p $(@D)
	$(Q)scripts/embed-sql.sh $(SQL) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/lc_schema.o: $(BUILD)/gen/lc_schema.c $(STAMP)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libcommon.a: $(LIB_OBJ)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

define service_rule
$(BUILD)/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard services/$(1)/*.c)) $(BUILD)/libcommon.a
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(LDFLAGS) $$^ $$(or $$(LDLIBS_$(1)),$$(LDLIBS)) -o $$@
endef
$(foreach s,$(SERVICES),$(eval $(call service_rule,$(s))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@
$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# These scripts run make themselves (with MAKEFLAGS cleared, so that the
# daemons they start never inherit make's jobserver pipe).
test:
	@tests/run.sh
run:
	@scripts/stack start
stop:
	@scripts/stack stop
status:
	@scripts/stack status
deps:
	@scripts/deps.sh
clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
