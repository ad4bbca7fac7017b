# Fazhi: `make site` builds the generator and the portal; `make test` runs every test.
# Everything is found with pkg-config; missing Debian packages are installed
# when run as root (see `make deps`).

CC	?= cc
PKGS	 = libcmark-gfm yaml-0.1 lua5.4 minizip libdeflate
# Debian packages for the generator, its tests and the portal's browser checks.
DEBS	 = build-essential pkg-config libcmark-gfm-dev libcmark-gfm-extensions-dev \
	   libyaml-dev liblua5.4-dev libminizip-dev libdeflate-dev zlib1g-dev \
	   libmicrohttpd-dev unzip python3 valgrind
APT	 = apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libmicrohttpd 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) libmicrohttpd 2>/dev/null)

CFLAGS	?= -O2 -g
WARN	 = -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter
ALL_CFLAGS = $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Igenerator
LDLIBS	 = -lcmark-gfm-extensions $(PKG_LIBS) -lz -lpthread -lm
SAN	 = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS	:= $(sort $(wildcard generator/*.c))
LIBSRCS	:= $(filter-out generator/main.c,$(SRCS))
OBJS	:= $(SRCS:generator/%.c=build/release/%.o)
ASANOBJS := $(SRCS:generator/%.c=build/asan/%.o)
HDRS	:= $(wildcard generator/*.h)
UNITS	:= $(sort $(wildcard tests/unit/test_*.c))

.PHONY: all site test deps bench bench-1m clean
all: generator/fazhi

# Install what is missing (as root), or say exactly what to install.
deps:
	@if ! pkg-config --exists $(PKGS) libmicrohttpd 2>/dev/null || \
	    ! command -v unzip >/dev/null || ! command -v python3 >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "make: installing Debian packages: $(DEBS)"; \
			apt-get update -qq && $(APT) $(DEBS) >/dev/null || exit 1; \
		else \
			echo "make: missing packages; run as root:"; \
			echo "  apt-get install $(DEBS)"; exit 1; \
		fi; \
	fi

generator/fazhi: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(LDLIBS)

build/release/%.o: generator/%.c $(HDRS) | build/release
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/asan/%.o: generator/%.c $(HDRS) | build/asan
	$(CC) $(WARN) $(SAN) $(PKG_CFLAGS) -Igenerator -c -o $@ $<

build/asan/fazhi: $(ASANOBJS)
	$(CC) $(SAN) -o $@ $(ASANOBJS) $(LDLIBS)

build/release build/asan build/unit build/unit-asan:
	mkdir -p $@

site: deps
	$(MAKE) generator/fazhi
	./generator/fazhi build

# Unit tests link every module but main.c: once normally, once with sanitizers.
build/unit/%: tests/unit/%.c $(filter-out build/release/main.o,$(OBJS)) | build/unit
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(filter-out build/release/main.o,$(OBJS)) $(LDLIBS)

build/unit-asan/%: tests/unit/%.c $(filter-out build/asan/main.o,$(ASANOBJS)) | build/unit-asan
	$(CC) $(WARN) $(SAN) $(PKG_CFLAGS) -Igenerator -Itests/unit -o $@ $< $(filter-out build/asan/main.o,$(ASANOBJS)) $(LDLIBS)

UNITBINS := $(UNITS:tests/unit/%.c=build/unit/%) $(UNITS:tests/unit/%.c=build/unit-asan/%)

test: deps
	$(MAKE) generator/fazhi build/asan/fazhi $(UNITBINS)
	bash tests/run.sh

BENCHBINS := $(patsubst tests/bench/%.c,build/bench/%,$(wildcard tests/bench/bundle_bench.c tests/bench/filter_bench.c tests/bench/template_bench.c))

build/bench:
	mkdir -p $@

# The micro-benchmarks link the generator's modules, like the unit tests.
build/bench/%: tests/bench/%.c $(filter-out build/release/main.o,$(OBJS)) | build/bench
	$(CC) $(ALL_CFLAGS) -o $@ $< $(filter-out build/release/main.o,$(OBJS)) $(LDLIBS)

bench: deps
	$(MAKE) generator/fazhi $(BENCHBINS)
	bash tests/bench/run.sh

# A million generated reports, Fazhi only (needs about 52 GB free in /var/tmp).
bench-1m: deps
	$(MAKE) generator/fazhi
	BENCH_SIZES=1000000 bash tests/bench/run.sh --fazhi-only

clean:
	rm -rf build generator/fazhi tests/out

# `make fuzz`, `make fuzz-replay`: libFuzzer harnesses (clang), see tests/fuzz/README.md.
include tests/fuzz/fuzz.mk
