#!/usr/bin/env bash
# Everything the project checks, in one command (as root on Debian 12):
# install missing packages, build twice (build/normal, and build/sanitizers
# with ASan+UBSan), run "make check" in each, run the fuzz targets for about
# a minute (scripts/fuzz.sh), and sum the results.
#
# Results are the totals automake's harness writes to test-suite.log (one
# per TAP test case: PASS and XFAIL count as passed, FAIL, XPASS and ERROR
# as failed, SKIP as skipped), plus the TAP results of the steps run once
# (make distcheck, the Debian package).  A build, or a "make check" that
# fails without any test reporting a failure, counts as one failure.
#
# The last line of output is always "N passed, N failed[, N skipped]".
# Exit status 0 only if nothing failed and at least one test passed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

builds=(normal sanitizers)
max_log_lines=300   # of each failed test's log, printed at the end
max_cases=40        # failed test cases listed per build in the summary

total_pass=0 total_fail=0 total_skip=0
failed_logs=()     # .log files of test scripts with a failure, in order
summary_lines=()   # per-build counts, printed at the end
notes=()           # one-line explanations printed before the summary

banner() { printf '\n===== %s =====\n' "$*"; }

# Add the totals automake's harness wrote to DIR/test-suite.log (one TAP
# test case each: PASS and XFAIL count as passed, FAIL, XPASS and ERROR as
# failed) to the sums, and remember the logs of the scripts that failed.
count_results() {
	local mode=$1 dir=$2 make_status=$3 key n i log
	local -A t=([PASS]=0 [XFAIL]=0 [SKIP]=0 [FAIL]=0 [XPASS]=0 [ERROR]=0)
	local -a failed_cases=()

	if [[ -f $dir/test-suite.log ]]; then
		while read -r key n; do
			t[${key%:}]=$n
		done < <(grep -E '^# (PASS|XFAIL|SKIP|FAIL|XPASS|ERROR): +[0-9]+$' "$dir/test-suite.log" | sed 's/^# //')
	fi
	# The failed scripts' logs carry the names: "FAIL: tests/bats/x.bats 3 what".
	while IFS= read -r -d '' log; do
		if grep -qE '^(FAIL|XPASS|ERROR): ' "$log"; then
			failed_logs+=("$log")
			mapfile -t -O "${#failed_cases[@]}" failed_cases < <(grep -E '^(FAIL|XPASS|ERROR): ' "$log")
		fi
	done < <(find "$dir/tests" -name '*.log' -print0 2>/dev/null | sort -z)

	local passed=$((t[PASS] + t[XFAIL])) failed=$((t[FAIL] + t[XPASS] + t[ERROR])) skip=${t[SKIP]}
	if ((make_status != 0 && failed == 0)); then
		notes+=("$mode: make check exited with status $make_status but no test reported a failure; counted as 1 failure")
		# Make's own complaint, e.g. "No rule to make target 'tests/x.bats'".
		mapfile -t -O "${#notes[@]}" notes < <(grep -E '\*\*\* ' "$dir/test-all-make-check.out" 2>/dev/null |
			grep -vE 'check-(TESTS|am|recursive)\]|Waiting for unfinished' | head -n 5 | sed "s/^/$mode:   /")
		failed=1
	fi
	for ((i = 0; i < ${#failed_cases[@]}; i++)); do
		if ((i == max_cases)); then
			notes+=("$mode: ... and $((${#failed_cases[@]} - max_cases)) more (see the logs above)")
			break
		fi
		notes+=("$mode: ${failed_cases[i]}")
	done
	summary_lines+=("$(printf '%-12s %4d passed, %4d failed, %4d skipped   (PASS %d, XFAIL %d, FAIL %d, XPASS %d, ERROR %d, SKIP %d)' \
		"$mode:" "$passed" "$failed" "$skip" "${t[PASS]}" "${t[XFAIL]}" "${t[FAIL]}" "${t[XPASS]}" "${t[ERROR]}" "$skip")")
	((total_pass += passed, total_fail += failed, total_skip += skip))
}

# count_tap NAME LOG STATUS: add a TAP stream's results (ok / not ok /
# "# skip") to the sums; a command that failed with no "not ok" is one
# failure, and so is one that ran no test.
count_tap() {
	local name=$1 log=$2 status=$3 pass fail skip
	pass=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ') || true
	skip=$(grep -cE '^ok [0-9]+ .*# ?[Ss][Kk][Ii][Pp]' "$log") || true
	fail=$(grep -cE '^not ok [0-9]+' "$log") || true
	pass=$((pass - skip))
	if ((fail > 0)); then
		failed_logs+=("$log")
		mapfile -t -O "${#notes[@]}" notes < <(grep -E '^not ok [0-9]+' "$log" | head -n "$max_cases" | sed "s/^/$name: /")
	elif ((status != 0 || pass + skip == 0)); then
		notes+=("$name: exited with status $status after $pass passed tests; counted as 1 failure")
		failed_logs+=("$log")
		fail=1
	fi
	summary_lines+=("$(printf '%-12s %4d passed, %4d failed, %4d skipped' "$name:" "$pass" "$fail" "$skip")")
	((total_pass += pass, total_fail += fail, total_skip += skip))
}

# Once, on the normal build: make distcheck (the release tarball builds,
# installs and uninstalls under a scratch prefix, and passes a short
# TESTS subset: the full suites already ran above), then the Debian
# package built from that tarball, installed, used and purged.
run_release() {
	local dir=build/normal status log=build/normal/test-all-release.log
	local quick='tests/unit/test-parse tests/unit/test-qcow2-header tests/bats/docs.bats tests/bats/rotate.bats'
	banner "release: make distcheck (TESTS: $quick)"
	{
		make -C "$dir" distcheck TESTS="$quick" >"$dir/test-all-distcheck.out" 2>&1
		status=$?
		tail -n 5 "$dir/test-all-distcheck.out"
		if ((status == 0)); then echo "ok 1 make distcheck"; else echo "not ok 1 make distcheck (see $dir/test-all-distcheck.out)"; fi
	} | tee "$log"
	count_tap distcheck "$log" 0
	banner "release: the Debian package"
	log=build/normal/test-all-package.log
	OVL_TARBALL=$(ls "$dir"/ovl-*.tar.gz 2>/dev/null | head -n 1) \
		bats --tap tests/package/package.bats 2>&1 | tee "$log"
	count_tap package "$log" "${PIPESTATUS[0]}"
}

run_build() {
	local mode=$1 dir=build/$1 status=0
	local -a envs=()

	banner "$mode: build"
	if ! bash scripts/build.sh "$mode"; then
		notes+=("$mode: build failed (see its output above); counted as 1 failure")
		summary_lines+=("$(printf '%-12s build failed' "$mode:")")
		((total_fail += 1))
		return
	fi

	# Results of tests that are no longer in the suite must not be counted.
	find "$dir" \( -name '*.trs' -o -path "$dir/tests/*.log" -o -name test-suite.log \) -delete

	if [[ $mode == sanitizers ]]; then
		envs=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
		# The slowest matrices kill qemu-img at every call of long
		# histories (crash.bats) or replay hundreds of random histories
		# (undo-random.bats): they test qemu-img's and the journal's
		# behaviour far more than our memory use, and the normal build
		# runs them in full.  crash-steps.bats (a kill after every
		# journal step, recovery by every tool) stays in both.
		local tests
		tests=$(make -s --no-print-directory -C "$dir" print-tests |
			tr ' ' '\n' | grep -vxE 'tests/bats/(crash|undo-random)\.bats' | tr '\n' ' ')
		envs+=("TESTS=$tests")
		notes+=("sanitizers: crash.bats and undo-random.bats run in the normal build only")
	fi
	banner "$mode: make check"
	# TESTS, when set, goes through the environment: make -e is not needed
	# because automake's TESTS is only a default when set on the command line.
	if [[ $mode == sanitizers ]]; then
		env "${envs[@]::2}" make -C "$dir" -j2 check "${envs[2]}" 2>&1 | tee "$dir/test-all-make-check.out"
	else
		make -C "$dir" -j2 check 2>&1 | tee "$dir/test-all-make-check.out"
	fi
	status=${PIPESTATUS[0]}
	count_results "$mode" "$dir" "$status"
}

banner "dependencies"
if ! bash scripts/deps.sh; then
	notes+=("dependencies: scripts/deps.sh failed; counted as 1 failure")
	((total_fail += 1))
fi

for mode in "${builds[@]}"; do
	run_build "$mode"
done
if [[ -f build/normal/Makefile ]]; then
	run_release
fi

# The fuzz targets (scripts/fuzz.sh): one pass per target that built,
# replayed its seed corpus and fuzzed clean; one failure per other target.
run_fuzz() {
	local out=build/fuzz-results.out status pass fail
	banner "fuzz"
	mkdir -p build
	bash scripts/fuzz.sh 2>&1 | tee "$out"
	status=${PIPESTATUS[0]}
	pass=$(grep -c '^PASS: fuzz-' "$out")
	fail=$(grep -c '^FAIL: fuzz-' "$out")
	if ((status != 0 && fail == 0)); then
		notes+=("fuzz: scripts/fuzz.sh exited with status $status but no target failed; counted as 1 failure")
		fail=1
	fi
	mapfile -t -O "${#notes[@]}" notes < <(grep '^FAIL: fuzz-' "$out")
	summary_lines+=("$(printf '%-12s %4d passed, %4d failed   (one per target in tests/fuzz)' "fuzz:" "$pass" "$fail")")
	((total_pass += pass, total_fail += fail))
}
run_fuzz

if ((${#failed_logs[@]} > 0)); then
	banner "logs of failed tests"
	for log in "${failed_logs[@]}"; do
		printf '\n----- %s -----\n' "$log"
		if [[ ! -f $log ]]; then
			echo "(no log file)"
			continue
		fi
		lines=$(wc -l <"$log")
		if ((lines > max_log_lines)); then
			echo "(first $((lines - max_log_lines)) of $lines lines omitted)"
		fi
		tail -n "$max_log_lines" "$log"
	done
	if grep -qs 'LeakSanitizer does not work under ptrace' "${failed_logs[@]}"; then
		notes+=("sanitizers: LeakSanitizer cannot run under ptrace (strace, gdb, some CI sandboxes); this failure is environmental")
	fi
fi

if ((total_pass + total_fail == 0)); then
	notes+=("no test ran")
fi

banner "summary"
for line in "${notes[@]}"; do
	printf '%s\n' "$line"
done
for line in "${summary_lines[@]}"; do
	printf '%s\n' "$line"
done

closing="$total_pass passed, $total_fail failed"
((total_skip > 0)) && closing+=", $total_skip skipped"
printf '%s\n' "$closing"

((total_fail == 0 && total_pass > 0))
