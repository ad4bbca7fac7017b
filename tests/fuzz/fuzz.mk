# Fuzzing with libFuzzer (clang): `make fuzz` runs every harness in
# tests/fuzz/fuzz_*.c for FUZZ_SECONDS each (default 60), one after
# the other, at nice 19.  Included from the top-level Makefile.
#
#   make fuzz                          all harnesses, 60 s each
#   make fuzz FUZZ_SECONDS=1800        longer
#   make fuzz FUZZERS=fuzz_markdown    one harness
#   make fuzz-replay                   run the seeds and regressions once
#
# Seeds live in tests/fuzz/corpus/<harness>/ (committed); what the
# fuzzer finds goes to build/fuzz/corpus/<harness>/ and crashing
# inputs to build/fuzz/artifacts/.  See tests/fuzz/README.md.

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_SAN	 = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
		   -fno-sanitize-recover=undefined
FUZZ_CFLAGS	 = -std=c11 -Wall -Wextra -Wno-unused-parameter $(FUZZ_SAN) \
		   $(shell pkg-config --cflags libcmark-gfm yaml-0.1 lua5.4 minizip \
		   libdeflate libmicrohttpd 2>/dev/null) -Igenerator -Itests/fuzz
FUZZ_LIBS	 = -lcmark-gfm-extensions $(shell pkg-config --libs libcmark-gfm \
		   yaml-0.1 lua5.4 minizip libdeflate libmicrohttpd 2>/dev/null) \
		   -lz -lpthread -lm
# Every module but main.c, in an archive so that each harness links
# only the modules it calls.  FUZZ_EXCLUDE=name leaves a module out
# (e.g. one that is being rewritten and does not compile).
FUZZ_EXCLUDE	?=
FUZZ_LIBOBJS	:= $(patsubst generator/%.c,build/fuzz/obj/%.o, \
		   $(filter-out generator/main.c $(FUZZ_EXCLUDE:%=generator/%.c), \
		   $(sort $(wildcard generator/*.c))))
# fuzz_filter needs the filter stage (generator/filter.c).
FUZZ_ALL	:= $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
ifeq ($(wildcard generator/filter.c),)
FUZZ_ALL	:= $(filter-out fuzz_filter,$(FUZZ_ALL))
endif
FUZZERS		?= $(FUZZ_ALL)
FUZZ_BINS	 = $(FUZZERS:%=build/fuzz/%)
# Per-harness options: slow inputs (a template's endless loop runs
# until the 100M-instruction budget) and Lua's memory cap need room.
FUZZ_OPTS	 = -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1
# Seconds an input may take before libFuzzer calls it a hang.  A
# template loop that concatenates strings runs its 100M-instruction
# budget for about 10 s (60 s under ASan, rendered twice): slow, not hung.
FUZZ_TIMEOUT	 = 25
FUZZ_TIMEOUT_fuzz_template = 180

.PHONY: fuzz fuzz-build fuzz-replay

fuzz-build: $(FUZZ_BINS)

build/fuzz/obj:
	mkdir -p $@

build/fuzz/obj/%.o: generator/%.c $(wildcard generator/*.h) | build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/libfazhi.a: $(FUZZ_LIBOBJS)
	rm -f $@
	ar rcs $@ $(FUZZ_LIBOBJS)

build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_util.h tests/fuzz/html_check.h build/fuzz/libfazhi.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libfazhi.a $(FUZZ_LIBS)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZERS); do \
		mkdir -p build/fuzz/corpus/$$f build/fuzz/artifacts; \
		dict=; [ -f tests/fuzz/$$f.dict ] && dict=-dict=tests/fuzz/$$f.dict; \
		echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
		to=$(FUZZ_TIMEOUT); [ $$f = fuzz_template ] && to=$(FUZZ_TIMEOUT_fuzz_template); \
		nice -n 19 build/fuzz/$$f $(FUZZ_OPTS) -timeout=$$to $$dict \
		    -max_total_time=$(FUZZ_SECONDS) \
		    -artifact_prefix=build/fuzz/artifacts/$$f- \
		    build/fuzz/corpus/$$f tests/fuzz/corpus/$$f \
		    >build/fuzz/$$f.log 2>&1; st=$$?; \
		grep -E '^(#[0-9]+[[:space:]]+DONE|==[0-9]+==ERROR|SUMMARY)' build/fuzz/$$f.log | tail -3; \
		if [ $$st -ne 0 ]; then \
			echo "fuzz: $$f FAILED (status $$st); see build/fuzz/$$f.log and build/fuzz/artifacts/"; \
			exit 1; \
		fi; \
	done

# Run each harness once over its seeds and the committed regression
# inputs (tests/hostile/regress/<harness>/), without fuzzing.
fuzz-replay: $(FUZZ_BINS)
	@for f in $(FUZZERS); do \
		set -- tests/fuzz/corpus/$$f/*; \
		[ -d tests/hostile/regress/$$f ] && set -- "$$@" tests/hostile/regress/$$f/*; \
		build/fuzz/$$f $(FUZZ_OPTS) -timeout=$(FUZZ_TIMEOUT_fuzz_template) "$$@" >build/fuzz/$$f.replay.log 2>&1 \
		    && echo "PASS fuzz-replay $$f ($$# inputs)" \
		    || { echo "FAIL fuzz-replay $$f: see build/fuzz/$$f.replay.log"; exit 1; }; \
	done
