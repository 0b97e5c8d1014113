# iotwatch - build, test, demo, bench, fuzz, lint, install.
# Quick start on a fresh Debian 12 machine: `make demo`, then `make test`.
# Missing Debian packages are installed by scripts/deps.sh (as root, apt-get).

PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc
VERSION    := 0.1.0
PKGS       := libpcap libndpi libcyaml yaml-0.1 libcrypto json-c hiredis rdkafka
SANITIZE   ?=
FUZZ_TIME  ?= 60
BUILD      := build

PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS     ?= -O2 -g
WARN       := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
ALL_CFLAGS  = $(WARN) -D_GNU_SOURCE -DIW_VERSION='"$(VERSION)"' -I. $(PKG_CFLAGS) $(CFLAGS)
LIBS        = $(PKG_LIBS) -lm -pthread

ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDSAN      := -fsanitize=$(SANITIZE)
OBJDIR     := $(BUILD)/$(if $(findstring thread,$(SANITIZE)),tsan,san)
else
OBJDIR     := $(BUILD)/obj
endif

LIB_SRC := $(wildcard parsers/*.c) $(wildcard rules/*.c) $(wildcard exporters/*.c) \
           $(filter-out sensor/main.c,$(wildcard sensor/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(OBJDIR)/%.o)
LIB     := $(OBJDIR)/libiotwatch.a
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OBJDIR)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
HDRS    := $(wildcard parsers/*.h rules/*.h exporters/*.h sensor/*.h)

.PHONY: all deps demo test unit unit-plain unit-san unit-tsan integration bench fuzz fuzz-build lint install clean

all: deps iotwatch

deps:
	@sh scripts/deps.sh build

$(OBJDIR)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# ---- the sensor: link-time optimisation and profile feedback (GCC) ----
# An instrumented build replays the bundled captures of real clients (pcaps/, each with
# its rules where it has them), then every file is compiled again, in the same place
# (GCC names the profile of a static function after its object file), with the branch
# and call counts of that run, and the sensor linked as one unit: hot paths laid out
# together, cold ones moved aside, calls across files inlined. Code the replay never ran
# is optimised as usual (-fprofile-partial-training). Any change rebuilds both rounds;
# PGO=0 links the plain objects the unit tests use instead (sanitizer builds and
# compilers other than GCC always do).
IS_GCC   := $(shell $(CC) --version 2>/dev/null | grep -q 'Free Software Foundation' && echo 1)
PGO      ?= $(if $(SANITIZE),0,$(if $(IS_GCC),1,0))
PGO_DIR  := $(BUILD)/pgo
PGO_SRC  := sensor/main.c $(LIB_SRC)
PGO_RUNS := $(wildcard pcaps/*.pcap)
PGO_generate := -flto=auto -fprofile-generate
PGO_use      := -flto=auto -fprofile-use -fprofile-partial-training -Wno-missing-profile

ifeq ($(PGO),1)
iotwatch: $(PGO_SRC) $(HDRS) $(PGO_RUNS) $(wildcard pcaps/*.yaml)
	@rm -rf $(PGO_DIR)
	@echo "pgo: instrumented build"
	@$(MAKE) --no-print-directory PGO_STAGE=generate $(PGO_DIR)/iotwatch
	@echo "pgo: replaying $(words $(PGO_RUNS)) captures of pcaps/ for the profile"
	@set -e; for p in $(PGO_RUNS); do c=$${p%.pcap}.yaml; \
	  if [ -f $$c ]; then $(PGO_DIR)/iotwatch -r $$p -c $$c -o /dev/null -q; \
	  else $(PGO_DIR)/iotwatch -r $$p -o /dev/null -q; fi; done
	@find $(PGO_DIR) -name '*.o' -delete
	@echo "pgo: optimised build"
	@$(MAKE) --no-print-directory PGO_STAGE=use $(PGO_DIR)/iotwatch
	cp $(PGO_DIR)/iotwatch $@
else
iotwatch: $(OBJDIR)/sensor/main.o $(LIB)
	$(CC) $(LDSAN) -o $@ $^ $(LIBS)
endif

$(PGO_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PGO_$(PGO_STAGE)) -c $< -o $@

$(PGO_DIR)/iotwatch: $(PGO_SRC:%.c=$(PGO_DIR)/%.o)
	$(CC) $(ALL_CFLAGS) $(PGO_$(PGO_STAGE)) -o $@ $^ $(LIBS)

# ---- demo: replay the bundled capture and show what came out ----
demo:
	@sh scripts/deps.sh demo
	$(MAKE) iotwatch
	@sh scripts/demo.sh

# ---- tests ----
$(OBJDIR)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags cmocka) -o $@ $< $(LIB) $(LDSAN) $(LIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# the tests of the code with threads of its own (pcapfile.c's reader, redis.c's writer)
# under ThreadSanitizer
TSAN_TESTS := test_pcapfile test_redis
unit-tsan:
	$(MAKE) SANITIZE=thread $(TSAN_TESTS:%=$(BUILD)/tsan/tests/%)
	@set -e; for t in $(TSAN_TESTS); do echo "== $(BUILD)/tsan/tests/$$t (ThreadSanitizer)"; \
	  TSAN_OPTIONS=halt_on_error=1 $(BUILD)/tsan/tests/$$t; done

test:
	@sh scripts/deps.sh test
	$(MAKE) iotwatch
	$(MAKE) unit
	$(MAKE) unit SANITIZE=address,undefined
	$(MAKE) unit-tsan
	$(MAKE) iotwatch-san
	$(MAKE) integration

# the sensor under ASan+UBSan, for the capture regressions
iotwatch-san:
	$(MAKE) SANITIZE=address,undefined $(BUILD)/iotwatch-san

$(BUILD)/iotwatch-san: $(OBJDIR)/sensor/main.o $(LIB)
	$(CC) $(LDSAN) -o $@ $^ $(LIBS)

# a Kafka cluster on loopback for the tests (librdkafka's mock cluster)
$(BUILD)/kafka-mock: tests/integration/kafka-mock.c
	@mkdir -p $(BUILD)
	$(CC) $(WARN) -O1 -g -o $@ $< $(shell pkg-config --cflags --libs rdkafka)

# every script runs; the target fails at the end, naming the ones that failed
integration: $(BUILD)/kafka-mock
	@failed=""; for t in tests/integration/test_*.sh; do echo "== $$t"; \
		bash $$t || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then echo "integration: FAILED:$$failed"; exit 1; fi

# ---- benchmark ----
bench:
	@sh scripts/deps.sh bench
	$(MAKE) iotwatch $(BUILD)/kafka-mock
	IOTWATCH=./iotwatch sh tests/bench/run.sh

# ---- fuzzing: each target for FUZZ_TIME seconds ----
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS)
FUZZ_LIBSRC := $(filter-out parsers/classify.c,$(wildcard parsers/*.c)) $(wildcard exporters/*.c) \
               $(wildcard rules/*.c) sensor/stream.c sensor/store.c sensor/redis.c
# the whole-pipeline target also needs the rest of sensor/ and the nDPI glue
FUZZ_PCAPSRC := $(filter-out sensor/main.c sensor/stream.c sensor/store.c sensor/redis.c,$(wildcard sensor/*.c)) \
                parsers/classify.c

fuzz-build:
	@sh scripts/deps.sh fuzz
	@mkdir -p $(BUILD)/fuzz
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "clang $$n"; \
	  extra=""; [ $$n = fuzz_pcap ] && extra="$(FUZZ_PCAPSRC)"; [ $$n = fuzz_pcapfile ] && extra=sensor/pcapfile.c; \
	  clang $(FUZZ_CFLAGS) -o $(BUILD)/fuzz/$$n $$f $(FUZZ_LIBSRC) $$extra $(PKG_LIBS) -lm -pthread; done

fuzz: fuzz-build
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  mkdir -p $(BUILD)/fuzz/corpus-$$n; \
	  seeds=tests/fuzz/seeds/$$n; [ -d $$seeds ] || seeds=; [ $$n = fuzz_pcap ] && seeds=pcaps; \
	  echo "== $$n for $(FUZZ_TIME)s"; \
	  $(BUILD)/fuzz/$$n -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$n- \
	    $(BUILD)/fuzz/corpus-$$n $$seeds 2>&1 | tail -n 12; done

# ---- lint: formatting, banned functions, raw byte indexing in parsers/ ----
lint:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
	@! grep -nE '\b(sprintf|strcpy|strcat|strtok|strtok_r|gets)\(' $$(git ls-files '*.c' '*.h') || \
	  { echo "lint: banned function"; exit 1; }
	@! grep -nE '(^|[^.>A-Za-z0-9_])(data|payload|frame|p|l3)\[' parsers/*.c | grep -v 'lint: ok' || \
	  { echo "lint: raw indexing of packet bytes in parsers/ (use the cursor)"; exit 1; }
	@echo "lint: ok"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)/etc/iotwatch
	install -m 0755 iotwatch $(DESTDIR)$(PREFIX)/bin/iotwatch
	install -m 0644 docs/iotwatch.8 $(DESTDIR)$(PREFIX)/share/man/man8/iotwatch.8
	install -m 0644 config/iotwatch.yaml $(DESTDIR)/etc/iotwatch/iotwatch.yaml.example
	[ -e $(DESTDIR)/etc/iotwatch/iotwatch.yaml ] || install -m 0644 config/iotwatch.yaml $(DESTDIR)/etc/iotwatch/iotwatch.yaml

clean:
	rm -rf $(BUILD) iotwatch
