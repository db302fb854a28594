#!/usr/bin/env bash
# Everything the project checks, in one command (as root on Debian 12):
# install missing packages, build twice (build/normal, and build/sanitizers
# with ASan+UBSan), run "make check" in each, run the fuzz targets for about
# a minute (scripts/fuzz.sh), and sum the results.
#
# Results are counted from the .trs files that automake's test harness writes
# for every test script: one ":test-result: PASS|FAIL|SKIP|XFAIL|XPASS|ERROR"
# line per TAP test case.  PASS and XFAIL count as passed, FAIL, XPASS and
# ERROR as failed, SKIP as skipped.  A build, or a "make check" that fails
# without any test reporting a failure, counts as one failure.
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

# Count the :test-result: lines of every .trs file under DIR and add them to
# the totals; remember the logs of scripts that failed.
count_results() {
	local mode=$1 dir=$2 make_status=$3
	local pass=0 fail=0 xfail=0 xpass=0 error=0 skip=0 trs result bad name log i
	local -a failed_cases=()

	while IFS= read -r -d '' trs; do
		bad=0
		while read -r _ result _; do
			case $result in
			PASS) ((pass++)) ;;
			XFAIL) ((xfail++)) ;;
			SKIP) ((skip++)) ;;
			FAIL) ((fail++, bad++)) ;;
			XPASS) ((xpass++, bad++)) ;;
			ERROR) ((error++, bad++)) ;;
			esac
		done < <(grep '^:test-result:' "$trs")
		if ((bad > 0)); then
			log=${trs%.trs}.log
			failed_logs+=("$log")
			# The .trs lines carry no names; the TAP driver's log does:
			# "FAIL: tests/bats/renew.bats 3 description".
			if grep -qE '^(FAIL|XPASS|ERROR): ' "$log" 2>/dev/null; then
				mapfile -t -O "${#failed_cases[@]}" failed_cases < <(grep -E '^(FAIL|XPASS|ERROR): ' "$log")
			else
				name=${trs#"$dir"/}
				failed_cases+=("${name%.trs}: $bad failed")
			fi
		fi
	done < <(find "$dir" -name '*.trs' -print0 | sort -z)

	local passed=$((pass + xfail)) failed=$((fail + xpass + error))
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
		"$mode:" "$passed" "$failed" "$skip" "$pass" "$xfail" "$fail" "$xpass" "$error" "$skip")")
	((total_pass += passed, total_fail += failed, total_skip += skip))
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
	find "$dir" -name '*.trs' -delete

	if [[ $mode == sanitizers ]]; then
		envs=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
	fi
	banner "$mode: make check"
	env "${envs[@]}" make -C "$dir" -j2 check 2>&1 | tee "$dir/test-all-make-check.out"
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
