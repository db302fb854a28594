#!/usr/bin/env bats
# Commit numbers and strict values (docs: "Numbers, concurrency").
#
# A commit that fails or is rolled back does not use up its number: the
# next commit gets it, so the history reads 1..N with no gap but what prune
# removed; a pruned or abandoned commit's number never comes back.  Each
# case makes a real history (64 MiB raw base, qcow2 overlay, ovl-commit)
# and reads the numbers from the store's history.db with sqlite3.
#
# Values with stray signs, spaces or exponents are usage errors (exit 2)
# that change nothing: --time, --min-size, --keep-within, --keep-last.

load helpers

setup() {
	ovl_setup
	MOUNTS_FILE="$BATS_TEST_TMPDIR/.mounts"
	: >"$MOUNTS_FILE"
}

teardown() {
	ovl_teardown
	local m
	if [[ -f "$MOUNTS_FILE" ]]; then
		tac "$MOUNTS_FILE" | while IFS= read -r m; do
			[[ -n "$m" ]] || continue
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	fi
}

# ---------------------------------------------------------------------------
# Helpers of this suite.

run_commit() {
	run --separate-stderr timeout 60 ovl-commit "$@"
}

# A 64 MiB raw base with data, and an empty overlay vm.ovl on it.
pair() {
	make_base base.img 64M && make_overlay vm.ovl base.img raw
}

# commit_data [--store DIR] [qemu-io command]: guest data into vm.ovl, then
# an ovl-commit that must succeed.
commit_data() {
	local -a store=()
	if [[ ${1:-} == --store ]]; then
		store=(--store "$2")
		shift 2
	fi
	write_data vm.ovl "${1:-write -P 0xab 1M 2M}"
	run_commit "${store[@]}" vm.ovl
	assert_success
}

# seqs STORE: the numbers of the logged commits, space-separated.
seqs() {
	store_sql "$1" 'SELECT seq FROM commits ORDER BY seq' | paste -sd' ' -
}

# mount_tmpfs DIR SIZE: a tmpfs of SIZE on DIR, unmounted in teardown.
mount_tmpfs() {
	mkdir -p -- "$1"
	mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" 2>/dev/null ||
		skip "cannot mount a tmpfs here (needs root outside a restricted container)"
	printf '%s\n' "$1" >>"$MOUNTS_FILE"
}

# ---------------------------------------------------------------------------
# Numbers.

@test "a commit that fails while archiving gives its number to the next commit" {
	local M=$BATS_TEST_TMPDIR/mnt
	mount_tmpfs "$M" 4M
	pair
	commit_data --store "$M/store" 'write -P 0x11 1M 64k'
	assert_equal "$(seqs "$M/store")" "1"
	# 8 MiB of data: the store is on another filesystem, so the archive
	# is a copy, and it does not fit.
	write_data vm.ovl 'write -P 0xab 4M 8M'
	run_commit --store "$M/store" vm.ovl
	assert_failure 1
	[[ "$stderr" == *"No space left on device"* ]] || fail "not the archive's failure: $stderr"
	assert_equal "$(seqs "$M/store")" "1"
	assert_equal "$(store_sql "$M/store" 'SELECT count(*) FROM journal')" 0

	mount -o remount,size=64M "$M"
	run_commit --store "$M/store" vm.ovl
	assert_success
	assert_equal "$(seqs "$M/store")" "1 2"
	[[ -f "$M/store/commits/00000002.qcow2" ]] || fail "no archive 2: $(ls "$M/store/commits")"
}

@test "the very first commit failing while archiving leaves number 1 free" {
	local M=$BATS_TEST_TMPDIR/mnt
	mount_tmpfs "$M" 4M
	pair
	write_data vm.ovl 'write -P 0xab 4M 8M'
	run_commit --store "$M/store" vm.ovl
	assert_failure 1
	[[ -f "$M/store/history.db" ]] || fail "the store was not made (the test needs the pristine copy to fit)"
	assert_equal "$(seqs "$M/store")" ""

	mount -o remount,size=64M "$M"
	run_commit --store "$M/store" vm.ovl
	assert_success
	assert_equal "$(seqs "$M/store")" "1"
}

@test "a crash at the archive step is rolled back and its number reused" {
	pair
	commit_data
	write_data vm.ovl 'write -P 0xcd 8M 1M'
	local rc=0
	OVL_TEST_CRASH=commit:archive timeout 60 setsid -w ovl-commit vm.ovl \
		>/dev/null 2>&1 </dev/null || rc=$?
	assert_equal "$rc" 137

	run_commit vm.ovl
	assert_success
	[[ "$output$stderr" == *"rolling back commit 2"* ]] || fail "no rollback said: $output $stderr"
	assert_equal "$(seqs base.img.history)" "1 2"
	assert_equal "$(store_sql base.img.history 'SELECT count(*) FROM commits WHERE pending = 1')" 0
	commit_data 'write -P 0xef 20M 1M'
	assert_equal "$(seqs base.img.history)" "1 2 3"
}

@test "a failed qemu-img commit is finished under its number; the next commit follows it" {
	pair
	commit_data
	write_data vm.ovl 'write -P 0xcd 8M 1M'
	use_qemu_wrapper
	QEMU_WRAP_FAIL=commit run_commit vm.ovl
	assert_failure 1
	unset QEMU_WRAP_FAIL
	run_commit vm.ovl
	assert_success
	assert_equal "$(seqs base.img.history)" "1 2"
	commit_data 'write -P 0xef 20M 1M'
	assert_equal "$(seqs base.img.history)" "1 2 3"
}

@test "numbers of pruned and abandoned commits are never reused" {
	pair
	commit_data 'write -P 0x01 1M 1M'
	commit_data 'write -P 0x02 2M 1M'
	commit_data 'write -P 0x03 3M 1M'
	run --separate-stderr timeout 60 ovl-history prune --keep-last 1 vm.ovl
	assert_success
	assert_equal "$(seqs base.img.history)" "3"
	commit_data 'write -P 0x04 4M 1M'
	assert_equal "$(seqs base.img.history)" "3 4"

	# Undo 4, then commit: 4 is abandoned (5 is the new commit); prune
	# drops 4, and a rolled-back commit after that still does not bring
	# 4 or 5 back.
	run --separate-stderr timeout 60 ovl-undo vm.ovl
	assert_success
	commit_data 'write -P 0x05 5M 1M'
	assert_equal "$(seqs base.img.history)" "3 4 5"
	assert_equal "$(store_sql base.img.history 'SELECT abandoned FROM commits WHERE seq = 4')" 1
	run --separate-stderr timeout 60 ovl-history prune --keep-last 2 vm.ovl
	assert_success
	assert_equal "$(seqs base.img.history)" "3 5"
	write_data vm.ovl 'write -P 0x06 6M 1M'
	local rc=0
	OVL_TEST_CRASH=commit:archive timeout 60 setsid -w ovl-commit vm.ovl \
		>/dev/null 2>&1 </dev/null || rc=$?
	assert_equal "$rc" 137
	run_commit vm.ovl
	assert_success
	assert_equal "$(seqs base.img.history)" "3 5 6"
}

# ---------------------------------------------------------------------------
# Values.

@test "--time with stray signs, spaces or exponents is a usage error (2)" {
	pair
	commit_data
	commit_data 'write -P 0xcd 8M 1M'
	local before bad
	before=$(snap .)
	for bad in "2024-01-01T10:-5" "+999" "2024-01-0-1" "2024-01- 1" "@-5" "@+5" \
		" 12" "1e3" "@1e3" "2024-01-01T10:05+-1" " @5" "@5 "; do
		run --separate-stderr timeout 60 ovl-undo --time "$bad" vm.ovl
		[[ "$status" -eq 2 ]] || fail "ovl-undo --time '$bad' exited $status, not 2: $stderr"
		[[ "$stderr" == *"$bad"* ]] || fail "the message does not quote '$bad': $stderr"
	done
	assert_equal "$(snap .)" "$before"
	# The strict forms still work.
	run --separate-stderr timeout 60 ovl-undo --time "@$(date +%s)" vm.ovl
	assert_success
	assert_equal "$(store_head base.img.history)" 2
}

@test "sizes, counts and durations with stray signs are usage errors (2)" {
	pair
	commit_data
	local before args
	write_data vm.ovl 'write -P 0xcd 8M 1M'
	before=$(snap .)
	for args in "--min-size +5M" "--min-size -1" "--min-size 1e3" "--min-size 5M+"; do
		# shellcheck disable=SC2086
		run --separate-stderr timeout 60 ovl-commit $args vm.ovl
		[[ "$status" -eq 2 ]] || fail "ovl-commit $args exited $status, not 2: $stderr"
	done
	run --separate-stderr timeout 60 ovl-commit --min-size " 5M" vm.ovl
	[[ "$status" -eq 2 ]] || fail "ovl-commit --min-size ' 5M' exited $status, not 2: $stderr"
	for args in "--keep-within -3d" "--keep-within +3d" "--keep-within 3d-1h" \
		"--keep-last +2" "--keep-last -1" "--keep-daily 1e3"; do
		# shellcheck disable=SC2086
		run --separate-stderr timeout 60 ovl-history prune $args vm.ovl
		[[ "$status" -eq 2 ]] || fail "ovl-history prune $args exited $status, not 2: $stderr"
	done
	assert_equal "$(snap .)" "$before"
}
