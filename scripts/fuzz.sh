#!/usr/bin/env bash
# Fuzz every parser of untrusted bytes:
#   scripts/fuzz.sh [SECONDS-PER-TARGET [NAME...]]
#
# Builds the libFuzzer targets tests/fuzz/fuzz-*.c with clang
# (-fsanitize=fuzzer,address,undefined) against the library, in build/fuzz;
# replays each target's seed corpus, tests/fuzz/corpus/NAME/ (every input
# there once: the regression cases), then fuzzes it for SECONDS-PER-TARGET
# (default: about 60 s for all targets together).  NAMEs pick targets
# (default: all).  New inputs go to a scratch corpus in build/fuzz, never
# into the tree.
#
# One line per target: "PASS: fuzz-NAME" when it built, replayed its corpus
# and fuzzed without a finding; "FAIL: fuzz-NAME: WHY" otherwise, followed
# by the sanitizer's report and the reproducer (its path, its bytes, and
# the command that replays it).  Exit status: 0 when every target passed.
#
# Why configure + make for the library rather than compiling src/lib/*.c
# here: the fuzzed code is then built exactly as the tools are (config.h,
# HAVE_* defines, warnings, the same source list from Makefile.am), with
# no second list of sources to keep in step and no change to the shared
# autotools files.  The library gets -fsanitize=fuzzer-no-link (coverage
# without libFuzzer's main); only the targets link libFuzzer itself.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

case ${1:-} in
-h | --help)
	sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit 0
	;;
esac

mapfile -t sources < <(ls tests/fuzz/fuzz-*.c 2>/dev/null)
if ((${#sources[@]} == 0)); then
	echo "fuzz: no targets in tests/fuzz" >&2
	exit 1
fi
total_seconds=60
seconds=${1:-$((total_seconds / ${#sources[@]}))}
if (($# > 1)); then
	sources=()
	for name in "${@:2}"; do
		if [[ ! -f tests/fuzz/fuzz-$name.c ]]; then
			printf 'fuzz: no target %q (tests/fuzz/fuzz-%s.c)\n' "$name" "$name" >&2
			exit 2
		fi
		sources+=("tests/fuzz/fuzz-$name.c")
	done
fi
if [[ ! $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
	printf 'fuzz: SECONDS-PER-TARGET must be a whole number of seconds, not %q\n' "$seconds" >&2
	exit 2
fi

dir=build/fuzz
san=("-fsanitize=address,undefined" -fno-sanitize-recover=all)
cflags=(-g -O1 -fno-omit-frame-pointer "${san[@]}")
say() { printf 'fuzz: %s\n' "$*"; }

# The library, configured for clang in build/fuzz (only libovl.a is made).
build_library() {
	if [[ ! -x configure || ! -f Makefile.in || configure.ac -nt configure ||
		Makefile.am -nt configure ]]; then
		say "autoreconf -fi"
		autoreconf -fi || return 1
	fi
	mkdir -p "$dir" || return 1
	if [[ ! -f $dir/Makefile || configure -nt $dir/config.status ]]; then
		say "configure (clang, fuzzer-no-link + ASan + UBSan) in $dir"
		(cd "$dir" && ../../configure -q CC=clang \
			CFLAGS="${cflags[*]} -fsanitize=fuzzer-no-link" LDFLAGS="${san[*]}" \
			--without-libguestfs) || return 1
	fi
	say "make src/lib/libovl.a in $dir (log: $dir/logs/library.build)"
	mkdir -p "$dir/logs"
	if ! make -C "$dir" -j2 src/lib/libovl.a >"$dir/logs/library.build" 2>&1; then
		tail -n 40 "$dir/logs/library.build"
		return 1
	fi
}

# The libraries a tool links with, as the Makefile has them (the library
# itself named from the top directory).
library_libs() {
	# shellcheck disable=SC2016  # $(OVL_LIBS) is make's, not the shell's
	printf 'print-ovl-libs:\n\t@echo $(OVL_LIBS)\n' |
		make -s --no-print-directory -C "$dir" -f Makefile -f - print-ovl-libs |
		sed "s|src/lib/libovl.a|$dir/src/lib/libovl.a|"
}

# build_target NAME LIBS...: $dir/tests/fuzz/fuzz-NAME.
build_target() {
	local name=$1
	shift
	clang -std=c11 "${cflags[@]}" -fsanitize=fuzzer -Wall -Wextra -Wno-unused-parameter \
		-I src/lib -I "$dir" "tests/fuzz/fuzz-$name.c" "$@" \
		-o "$dir/tests/fuzz/fuzz-$name"
}

# show_reproducers NAME new|seed: each input libFuzzer saved for NAME, and
# how to replay it (and, for a new one, how to keep it).
show_reproducers() {
	local name=$1 f
	for f in "$dir/artifacts/$name"-*; do
		[[ -f $f ]] || continue
		printf '  reproducer: %s (%s bytes)\n' "$f" "$(stat -c %s "$f")"
		od -A d -c "$f" | head -n 16 | sed 's/^/    /'
		printf '  replay with: %s %s\n' "$dir/tests/fuzz/fuzz-$name" "$f"
		[[ $2 == new ]] &&
			printf '  once fixed, keep it as a regression case: cp %s tests/fuzz/corpus/%s/\n' "$f" "$name"
	done
}

# fail NAME WHY LOG [new|seed]: the FAIL line, the end of the log, the
# reproducers.
fail() {
	printf 'FAIL: fuzz-%s: %s\n' "$1" "$2"
	if [[ -s $3 ]]; then
		echo "  --- last lines of $3 ---"
		grep -v '^#[0-9]' "$3" | tail -n 60 | sed 's/^/  | /'
	fi
	show_reproducers "$1" "${4:-seed}"
}

# run_target NAME: replay the seed corpus, then fuzz for $seconds.
run_target() {
	local name=$1 bin=$dir/tests/fuzz/fuzz-$1 seeds=tests/fuzz/corpus/$1
	local scratch=$dir/corpus/$1 log=$dir/logs/$1.log
	local -a opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1
		"-artifact_prefix=$dir/artifacts/$name-")

	rm -f "$dir/artifacts/$name"-*
	mkdir -p "$scratch"
	if [[ ! -d $seeds ]] || [[ -z $(ls -A "$seeds") ]]; then
		fail "$name" "no seed corpus in $seeds" /dev/null
		return 1
	fi
	# -runs=0: every file of the seed corpus once, then stop.
	if ! "$bin" "${opts[@]}" -runs=0 "$seeds" >"$log" 2>&1; then
		fail "$name" "an input of its seed corpus fails (a regression)" "$log"
		return 1
	fi
	if ! "$bin" "${opts[@]}" -max_total_time="$seconds" "$scratch" "$seeds" >"$log" 2>&1; then
		fail "$name" "fuzzing found an input that fails" "$log" new
		return 1
	fi
	printf 'PASS: fuzz-%s (%s)\n' "$name" "$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" |
		sed 's/.*: /runs: /')"
}

pass=0 failed=0
if ! command -v clang >/dev/null; then
	say "clang not found (scripts/deps.sh installs it)"
	libs=
	built=no
elif build_library && libs=$(library_libs); then
	built=yes
else
	say "the library did not build for fuzzing"
	built=no
fi
mkdir -p "$dir/tests/fuzz" "$dir/artifacts" "$dir/logs" "$dir/corpus" 2>/dev/null
for src in "${sources[@]}"; do
	name=${src#tests/fuzz/fuzz-}
	name=${name%.c}
	if [[ $built != yes ]]; then
		fail "$name" "not built: no fuzzing library (see above)" /dev/null
		((failed++))
		continue
	fi
	# shellcheck disable=SC2086  # LIBS is a list of words
	if ! build_target "$name" $libs >"$dir/logs/$name.build" 2>&1; then
		fail "$name" "does not build" "$dir/logs/$name.build"
		((failed++))
		continue
	fi
	say "fuzz-$name: seed corpus, then ${seconds}s of fuzzing"
	if run_target "$name"; then
		((pass++))
	else
		((failed++))
	fi
done
say "$pass targets clean, $failed failing"
((failed == 0))
