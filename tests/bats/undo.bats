#!/usr/bin/env bats
# ovl-undo: bring a base to an earlier state of its history (or forward
# again to an undone one), and renew its overlay.
#
# Every history here is made for real: a base with data of its own, an
# overlay on it, several ovl-commit runs of qemu-io writes (overlapping
# ones, zero writes).  After each commit a raw copy of the base is kept
# ($R/ref-N.raw, state N; ref-0.raw is the pristine base); an undo to N is
# proven with qemu-img compare against it, and "nothing written" with
# sha256 checksums of the files.  The history database is read with
# sqlite3.  TMPDIR is private to each test, so that a qemu-nbd socket
# directory left behind is seen.

load helpers

setup() {
	ovl_setup_private_tmpdir
}

teardown() {
	ovl_teardown
}

# ---------------------------------------------------------------------------
# Helpers of this suite.

assert_stderr_has() {
	[[ "$stderr" == *"$1"* ]] || fail "stderr does not mention '$1': $stderr"
}

# make_base_image raw|qcow2 [SIZE]: BASE (base.img or base.qcow2) with
# data of its own in several places; BFMT its format, STORE its store.
make_base_image() {
	BFMT=${1:-raw}
	local size=${2:-64M}
	if [[ "$BFMT" == raw ]]; then
		BASE=base.img
		make_base "$BASE" "$size"
	else
		BASE=base.qcow2
		qemu-img create -q -f qcow2 "$BASE" "$size"
		qio "$BASE" qcow2 'write -P 0x5a 0 1M' 'write -P 0xa5 63M 1M'
	fi
	qio "$BASE" "$BFMT" 'write -P 0x5b 8M 2M' 'write -P 0x5c 20M 1M'
	STORE=$PWD/$BASE.history
}

# step N [OVL-COMMIT OPTION...] -- QEMU-IO COMMAND...: the guest writes,
# then the overlay is committed; $R/ref-N.raw keeps state N.
step() {
	local n=$1
	shift
	local -a opts=()
	while [[ $# -gt 0 && "$1" != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	qio vm.ovl qcow2 "$@"
	ovl-commit -q "${opts[@]}" vm.ovl || fail "ovl-commit of step $n failed"
	raw_ref "$BASE" "$BFMT" "$R/ref-$n.raw"
	if [[ -n "${SLOW:-}" ]]; then sleep 1.1; fi
}

# make_history [raw|qcow2]: a base, its overlay vm.ovl and four commits.
# Commit 2 is tagged "two".  The writes overlap: commit 4 rewrites part of
# what 3 wrote (so undoing 4 reads archive 3) and zeroes part of what 2
# wrote; commit 2 zeroes some of the base's own data.
make_history() {
	make_base_image "${1:-raw}"
	make_overlay vm.ovl "$BASE" "$BFMT"
	raw_ref "$BASE" "$BFMT" "$R/ref-0.raw"
	step 1 -m one -- 'write -P 0x11 512k 4M'
	step 2 --tag two -- 'write -P 0x22 3M 2M' 'write -z 8M 1M'
	step 3 -- 'write -P 0x33 0 64k' 'write -P 0x34 4M 6M'
	step 4 -- 'write -z 3M 1M' 'write -P 0x44 60M 1M' 'write -P 0x45 6M 1M'
	assert_equal "$(store_head "$STORE")" 4
}

# assert_state N: the base holds state N (content and size), the store
# says so and has nothing under way, the overlay is renewed, and nothing
# temporary is left anywhere.
assert_state() {
	local n=$1
	assert_reads_like "$BASE" "$BFMT" "$R/ref-$n.raw"
	if [[ "$BFMT" == qcow2 ]]; then
		run qemu-img check -q -f qcow2 "$BASE"
		assert_success
	fi
	assert_equal "$(store_head "$STORE")" "$n"
	assert_equal "$(store_sql "$STORE" 'SELECT count(*) FROM journal')" 0
	assert_overlay_empty vm.ovl "$BASE" "$BFMT"
	assert_no_leftovers . "$STORE"
}

# undo_ok N ARGS...: ovl-undo ARGS succeeds and leaves state N.
undo_ok() {
	local n=$1
	shift
	run_undo "$@"
	[[ "$status" -eq 0 ]] ||
		fail "ovl-undo $* exited $status (want 0, state $n): $stderr"
	assert_state "$n"
}

# The checksums of everything the guest's disk is made of.
sums() {
	printf '%s %s\n' "$(sha "$BASE")" "$(sha vm.ovl)"
}

# ---------------------------------------------------------------------------
# Choosing the state.

@test "undo: by default one step back" {
	make_history
	undo_ok 3 vm.ovl
	undo_ok 2 vm.ovl
	undo_ok 1 vm.ovl
	undo_ok 0 vm.ovl
}

@test "undo --steps K goes K states back" {
	make_history
	undo_ok 2 --steps 2 vm.ovl
	undo_ok 1 --steps 1 vm.ovl
	undo_ok 4 --to 4 vm.ovl
	undo_ok 0 --steps 4 vm.ovl
}

@test "undo --to N, down one by one and back up" {
	make_history
	local n
	for n in 3 2 1 0 1 2 3 4; do
		undo_ok "$n" --to "$n" vm.ovl
	done
}

@test "undo --to 0 is the pristine base" {
	make_history
	undo_ok 0 --to 0 vm.ovl
	run qemu-img compare -q -f "$BFMT" -F "$BFMT" "$BASE" "$STORE/$(store_sql "$STORE" \
		"SELECT value FROM meta WHERE key = 'pristine'")"
	assert_success
}

@test "undo --tag NAME goes to the tagged commit" {
	make_history
	undo_ok 2 --tag two vm.ovl
	undo_ok 4 --to 4 vm.ovl
	undo_ok 2 --tag=two vm.ovl
}

@test "undo --time: the last commit at or before TIME" {
	SLOW=1 make_history
	local t1 t2 up down
	t1=$(store_sql "$STORE" 'SELECT time_us FROM commits WHERE seq = 1')
	t2=$(store_sql "$STORE" 'SELECT time_us FROM commits WHERE seq = 2')
	up=$(((t2 + 999999) / 1000000))   # at or after commit 2, before 3
	down=$((t2 / 1000000))            # before commit 2 (unless exactly on it)
	undo_ok 2 --time "@$up" vm.ovl
	undo_ok 4 --to 4 vm.ovl
	if ((t2 % 1000000)); then
		undo_ok 1 --time "@$down" vm.ovl
	fi
	undo_ok 2 --time "$(date -d "@$up" +%Y-%m-%dT%H:%M:%S)" vm.ovl
	undo_ok 4 --to 4 vm.ovl
	undo_ok 2 --time "$(date -u -d "@$up" '+%Y-%m-%d %H:%M:%SZ')" vm.ovl
	undo_ok 4 --to 4 vm.ovl
	undo_ok 2 --time "$(TZ=Etc/GMT-2 date -d "@$up" +%Y-%m-%dT%H:%M:%S%:z)" vm.ovl
	undo_ok 3 --time "@$(($(store_sql "$STORE" 'SELECT time_us FROM commits WHERE seq = 3') / 1000000 + 1))" vm.ovl

	# Before the first commit: names nothing.
	local before
	before=$(sums)
	run_undo --time "$(date -d "@$((t1 / 1000000 - 5))" +%Y-%m-%dT%H:%M:%S)" vm.ovl
	assert_failure 1
	run_undo --time @0 vm.ovl
	assert_failure 1
	run_undo --time 2000-01-01 vm.ovl
	assert_failure 1
	assert_equal "$(sums)" "$before"
	assert_equal "$(store_head "$STORE")" 3
}

# ---------------------------------------------------------------------------
# Methods, formats, sizes, operands.

@test "undo --method=replay gives the same states" {
	make_history
	undo_ok 3 --method=replay vm.ovl
	undo_ok 1 --method=replay --to 1 vm.ovl
	undo_ok 4 --method=replay --to 4 vm.ovl
	undo_ok 0 --method replay --to 0 vm.ovl
	undo_ok 2 --method=replay --tag two vm.ovl
	# Methods mixed along the way.
	undo_ok 4 --method=extents --to 4 vm.ovl
	undo_ok 2 --steps 2 vm.ovl
	undo_ok 3 --method=replay --to 3 vm.ovl
}

@test "undo on a qcow2 base" {
	make_history qcow2
	undo_ok 3 vm.ovl
	undo_ok 0 --to 0 vm.ovl
	undo_ok 4 --to 4 vm.ovl
	undo_ok 2 --to 2 --method=replay vm.ovl
	undo_ok 1 --to 1 vm.ovl
	undo_ok 3 --to 3 vm.ovl
	undo_ok 0 --to 0 --method=replay vm.ovl
	undo_ok 4 --to 4 vm.ovl
}

@test "undo of a commit that grew the base shrinks it back; redo grows it" {
	make_base_image raw 64M
	make_overlay vm.ovl "$BASE" raw "" 128M
	raw_ref "$BASE" raw "$R/ref-0.raw"
	step 1 -- 'write -P 0x11 1M 1M'
	step 2 -- 'write -P 0x22 100M 2M' 'write -P 0x23 63M 2M' 'write -z 126M 1M'
	step 3 -- 'write -P 0x33 101M 2M'
	assert_equal "$(virtual_size "$BASE" raw)" $((128 << 20))

	undo_ok 0 --to 0 vm.ovl
	assert_equal "$(virtual_size "$BASE" raw)" $((64 << 20))
	assert_equal "$(stat -c %s "$BASE")" $((64 << 20))
	undo_ok 2 --to 2 vm.ovl
	assert_equal "$(virtual_size "$BASE" raw)" $((128 << 20))
	undo_ok 1 vm.ovl
	undo_ok 3 --to 3 vm.ovl
	undo_ok 0 --to 0 --method=replay vm.ovl
	assert_equal "$(stat -c %s "$BASE")" $((64 << 20))
	undo_ok 3 --to 3 --method=replay vm.ovl
	undo_ok 2 vm.ovl
}

@test "undo of a grown qcow2 base" {
	make_base_image qcow2 64M
	make_overlay vm.ovl "$BASE" qcow2 "" 96M
	raw_ref "$BASE" qcow2 "$R/ref-0.raw"
	step 1 -- 'write -P 0x11 80M 1M' 'write -P 0x12 1M 1M'
	step 2 -- 'write -P 0x22 80M 64k'
	undo_ok 0 --to 0 vm.ovl
	assert_equal "$(virtual_size "$BASE" qcow2)" $((64 << 20))
	undo_ok 2 --to 2 vm.ovl
	undo_ok 1 vm.ovl
	undo_ok 0 --method=replay vm.ovl
	undo_ok 2 --to 2 --method=replay vm.ovl
}

@test "undo takes the base or the overlay, by any path" {
	make_history
	undo_ok 3 "$BASE"
	undo_ok 2 "$PWD/$BASE"
	undo_ok 1 "./vm.ovl"
	mkdir sub
	(cd sub && timeout 120 ovl-undo -q ../vm.ovl) || fail "undo from a subdirectory failed"
	assert_state 0
	undo_ok 4 --to 4 "$PWD/vm.ovl"
}

# ---------------------------------------------------------------------------
# The overlay.

@test "undo refuses an overlay that holds data; --discard-overlay drops it" {
	make_history
	qio vm.ovl qcow2 'write -P 0x77 2M 64k'
	local before
	before=$(sums)
	run_undo vm.ovl
	assert_failure 1
	assert_stderr_has vm.ovl
	assert_equal "$(sums)" "$before"
	assert_equal "$(store_head "$STORE")" 4
	assert_no_leftovers . "$STORE"

	# A zero write holds data too: it hides the base.
	ovl-renew -q --discard vm.ovl
	qio vm.ovl qcow2 'write -z 8M 64k'
	before=$(sums)
	run_undo --to 0 vm.ovl
	assert_failure 1
	assert_equal "$(sums)" "$before"

	undo_ok 3 --discard-overlay vm.ovl
	run overlay_allocated vm.ovl
	assert_output 0
}

@test "undo works when the overlay was removed" {
	make_history
	rm vm.ovl
	run_undo --to 2 "$BASE"
	assert_success
	assert_reads_like "$BASE" raw "$R/ref-2.raw"
	assert_equal "$(store_head "$STORE")" 2
	assert_no_leftovers . "$STORE"
}

# ---------------------------------------------------------------------------
# Dry run and output.

@test "undo --dry-run prints the plan and changes nothing" {
	make_history
	local before
	before=$(snap .)
	run_undo --dry-run vm.ovl
	assert_success
	[[ "$output" == *"state 3"* ]] || fail "the plan does not name state 3: $output"
	run_undo -n --to 0 --method=replay vm.ovl
	assert_success
	[[ "$output" == *"state 0"* ]] || fail "the plan does not name state 0: $output"
	run_undo -n --to 1 --output=json vm.ovl
	assert_success
	python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["from"] == 4 and o["to"] == 1, o
assert o.get("dry_run") in (True, None), o
' "$output" || fail "bad JSON: $output"
	assert_equal "$(snap .)" "$before"
	assert_equal "$(ls -A "$TMPDIR")" ""
}

@test "undo --output=json: from, to, method, seconds" {
	make_history
	run_undo --output=json vm.ovl
	assert_success
	python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["from"] == 4 and o["to"] == 3, o
assert o["method"] == "extents", o
assert isinstance(o["seconds"], (int, float)) and o["seconds"] >= 0, o
' "$output" || fail "bad JSON: $output"
	assert_state 3

	run_undo --output=json --method=replay --to 1 vm.ovl
	assert_success
	python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["from"] == 3 and o["to"] == 1 and o["method"] == "replay", o
assert isinstance(o["seconds"], (int, float)), o
' "$output" || fail "bad JSON: $output"
	assert_state 1
}

# ---------------------------------------------------------------------------
# Errors.

@test "undo usage errors exit 2 and change nothing" {
	make_history
	local before
	before=$(snap .)
	local bad
	for bad in "--to 1 --tag two" "--to 1 --steps 1" "--time @1 --tag two" \
		"--to abc" "--to -1" "--to 1x" "--steps 0" "--steps x" "--steps -2" \
		"--method=foo" "--time garbage" "--time 2026-02-31" "--output=xml"; do
		# shellcheck disable=SC2086
		run_undo $bad vm.ovl
		[[ "$status" -eq 2 ]] || fail "ovl-undo $bad exited $status, not 2: $stderr"
	done
	run_undo
	assert_failure 2
	run_undo vm.ovl "$BASE"
	assert_failure 2
	assert_equal "$(snap .)" "$before"
}

@test "undo to something that is not there exits 1 and changes nothing" {
	make_history
	local before
	before=$(snap .)
	run_undo --to 99 vm.ovl
	assert_failure 1
	assert_stderr_has 99
	run_undo --to 5 vm.ovl
	assert_failure 1
	run_undo --tag nope vm.ovl
	assert_failure 1
	assert_stderr_has nope
	run_undo --steps 5 vm.ovl
	assert_failure 1
	run_undo --steps 99 vm.ovl
	assert_failure 1
	run_undo --time 2000-01-01T00:00:00 vm.ovl
	assert_failure 1
	assert_equal "$(snap .)" "$before"
	assert_equal "$(ls -A "$TMPDIR")" ""
	undo_ok 0 --steps 4 vm.ovl
	run_undo vm.ovl
	assert_failure 1
	assert_state 0
}

@test "undo: commits undone when a new commit is made are abandoned" {
	make_history
	undo_ok 2 --to 2 vm.ovl
	step 5 -m five -- 'write -P 0x55 4M 1M'
	assert_equal "$(store_sql "$STORE" 'SELECT max(seq) FROM commits')" 5
	assert_equal "$(store_head "$STORE")" 5

	local before n
	before=$(sums)
	for n in 3 4; do
		run_undo --to "$n" vm.ovl
		assert_failure 1
		assert_stderr_has abandoned
		assert_equal "$(sums)" "$before"
		assert_equal "$(store_head "$STORE")" 5
	done
	undo_ok 2 vm.ovl
	run_undo --to 4 --method=replay vm.ovl
	assert_failure 1
	assert_stderr_has abandoned
	undo_ok 5 --to 5 vm.ovl
	undo_ok 2 --to 2 --method=replay vm.ovl
	undo_ok 5 --to 5 --method=replay vm.ovl
	undo_ok 0 --steps 3 vm.ovl
	undo_ok 5 --to 5 vm.ovl
}

@test "undo to the state the base is in does nothing" {
	make_history
	local before
	before=$(snap .)
	run_undo --to 4 vm.ovl
	assert_success
	assert_equal "$(snap .)" "$before"
	# Not even an overlay with data is touched.
	qio vm.ovl qcow2 'write -P 0x77 2M 64k'
	before=$(snap .)
	run_undo --to 4 vm.ovl
	assert_success
	run_undo --tag two --method=replay vm.ovl
	assert_failure 1
	assert_equal "$(snap .)" "$before"
	ovl-renew -q --discard vm.ovl
	undo_ok 2 --tag two vm.ovl
	run_undo --tag two vm.ovl
	assert_success
	assert_state 2
}

@test "undo with a missing archive fails naming it and changes nothing" {
	make_history
	rm "$STORE/commits/00000003.qcow2"
	local before
	before=$(sums)
	# State 3 needs commit 3's data where commit 4 overwrote it.
	run_undo vm.ovl
	assert_failure 1
	assert_stderr_has 00000003.qcow2
	assert_equal "$(sums)" "$before"
	assert_equal "$(store_head "$STORE")" 4
	run_undo --to 3 --method=replay vm.ovl
	assert_failure 1
	assert_stderr_has 00000003.qcow2
	assert_equal "$(sums)" "$before"
	assert_equal "$(store_head "$STORE")" 4
	assert_equal "$(store_sql "$STORE" 'SELECT count(*) FROM journal')" 0
	assert_no_leftovers . "$STORE"
}

@test "undo of a busy base or overlay exits 3 and changes nothing" {
	make_history
	local before
	before=$(sums)
	start_nbd "$BASE" raw ro
	run_undo vm.ovl
	assert_failure 3
	run_undo --method=replay --to 0 vm.ovl
	assert_failure 3
	assert_equal "$(sums)" "$before"
	assert_equal "$(store_head "$STORE")" 4
	stop_nbd

	start_nbd vm.ovl qcow2 ro
	run_undo "$BASE"
	assert_failure 3
	run_undo --to 2 vm.ovl
	assert_failure 3
	assert_equal "$(sums)" "$before"
	assert_equal "$(store_head "$STORE")" 4
	stop_nbd
	assert_no_leftovers . "$STORE"

	undo_ok 3 vm.ovl
}

@test "undo of an image with no history exits 1" {
	make_base base.img 16M
	make_overlay vm.ovl base.img raw
	local before
	before=$(snap .)
	run_undo vm.ovl
	assert_failure 1
	run_undo base.img
	assert_failure 1
	run_undo --to 0 vm.ovl
	assert_failure 1
	assert_equal "$(snap .)" "$before"
	run_undo nonexistent.img
	assert_failure 1
}

# ---------------------------------------------------------------------------
# Odd names, pruned histories.

@test "undo with odd names: spaces, commas, a leading dash" {
	mkdir 'a dir,x'
	cd 'a dir,x'
	BFMT=raw
	BASE='my disk,1.img'
	STORE=$PWD/$BASE.history
	make_base "$BASE" 16M
	qemu-img create -q -f qcow2 -b "$BASE" -F raw ./-vm,1.ovl
	raw_ref "$BASE" raw "$R/ref-0.raw"
	local n
	for n in 1 2 3; do
		qio -vm,1.ovl qcow2 "write -P $n $((n * 64))k 128k" "write -z $((n * 1024))k 4k"
		ovl-commit -q -- -vm,1.ovl || fail "ovl-commit $n failed"
		raw_ref "$BASE" raw "$R/ref-$n.raw"
	done
	run_undo -- -vm,1.ovl
	assert_success
	assert_reads_like "$BASE" raw "$R/ref-2.raw"
	run_undo --to 0 "./$BASE"
	assert_success
	assert_reads_like "$BASE" raw "$R/ref-0.raw"
	run_undo --to 3 --method=replay "$PWD/-vm,1.ovl"
	assert_success
	assert_reads_like "$BASE" raw "$R/ref-3.raw"
	assert_overlay_empty ./-vm,1.ovl "$BASE" raw
	assert_equal "$(store_head "$STORE")" 3
	assert_no_leftovers . "$STORE"
}

@test "undo after prune: the oldest kept state is reachable, older ones are not" {
	command -v ovl-history >/dev/null || skip "no ovl-history"
	make_history
	run ovl-history -q prune --keep-last 2 vm.ovl
	assert_success
	assert_equal "$(store_sql "$STORE" "SELECT value FROM meta WHERE key = 'oldest'")" 2
	local before n
	before=$(sums)
	for n in 0 1; do
		run_undo --to "$n" vm.ovl
		assert_failure 1
		assert_stderr_has pruned
	done
	run_undo --steps 3 vm.ovl
	assert_failure 1
	assert_equal "$(sums)" "$before"
	undo_ok 2 --steps 2 vm.ovl
	undo_ok 4 --to 4 vm.ovl
	undo_ok 2 --to 2 --method=replay vm.ovl
	undo_ok 3 --to 3 vm.ovl
	run_undo --steps 2 vm.ovl
	assert_failure 1
	undo_ok 2 vm.ovl
}

# ---------------------------------------------------------------------------
# Another ovl process on the same store.

@test "undo while another ovl process holds the store: waits ~10 s, busy (3), nothing changed" {
	make_history
	local before k t0 t1
	(exec 9<"$STORE" && flock -x 9 && exec sleep 20) </dev/null >/dev/null 2>&1 3>&- &
	_track_pid $!
	for ((k = 0; k < 100; k++)); do
		flock -n -x "$STORE" true 2>/dev/null || break
		sleep 0.05
	done
	((k < 100)) || fail "the lock holder did not take the lock"
	before=$(sums)
	t0=${EPOCHREALTIME/./}
	run_undo --to 2 vm.ovl
	t1=${EPOCHREALTIME/./}
	assert_equal "$status" 3
	(((t1 - t0) >= 9000000)) || fail "gave up after $(((t1 - t0) / 1000)) ms, not ~10 s"
	assert_equal "$(sums)" "$before"
	assert_equal "$(store_head "$STORE")" 4
}
