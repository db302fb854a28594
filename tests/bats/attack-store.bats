#!/usr/bin/env bats
# The history store as an attacker would shape it, the private socket
# directories, and the locks: root runs ordinary ovl commands on a store
# that another user made, linked or opened up; nothing of root's may be
# read, written or emptied on their behalf, and no tool may hang.

load helpers
load attacker

setup() {
	ovl_setup
	attacker_setup
	R=$(ovl_mktmp)
}

teardown() {
	attacker_teardown
	ovl_teardown
}

run_tool() {
	local tool=$1
	shift
	run --separate-stderr timeout 60 "$tool" "$@"
}

assert_stderr_has() {
	[[ "$stderr" == *"$1"* ]] || fail "stderr does not mention '$1': $stderr"
}

# images DIR: DIR/base.img (raw, 16 MiB) and DIR/vm.ovl on it holding data.
images() {
	(cd -- "$1" && make_base base.img 16M && make_overlay vm.ovl base.img raw &&
		write_data vm.ovl 'write -P 0x31 1M 1M')
}

# committed DIR: images in DIR and one commit by root (a store of root's).
committed() {
	images "$1"
	run_tool ovl-commit "$1/vm.ovl"
	assert_success
	write_data "$1/vm.ovl" 'write -P 0x32 2M 1M'
}

# hold_lock FILE: a process that holds an exclusive flock on FILE (a store
# directory or an overlay) until teardown; returns once it is held.
hold_lock() {
	local k
	(exec 9<"$1" && flock -x 9 && exec sleep 30) </dev/null >/dev/null 2>&1 3>&- &
	_track_pid $!
	for ((k = 0; k < 100; k++)); do
		flock -n -x "$1" true 2>/dev/null || return 0
		sleep 0.05
	done
	fail "the lock holder did not take the lock on '$1'"
}

# A journal row that, if run, would bring the base back to state 0.
PLANTED_ROW="INSERT INTO journal(op, seq, step, started_us, args) VALUES ('undo', 0, 'write', 0, '{\"method\":\"replay\"}')"

# ---------------------------------------------------------------------------
# The store directory.

@test "a store directory that is a symlink to a root-only directory is refused; the directory is untouched" {
	local U=$ATK/user before
	images "$U"
	as_attacker ln -s "$ATK/root" "$U/base.img.history"
	before=$(victim_sum)
	run_tool ovl-commit "$U/vm.ovl"
	assert_failure 1
	assert_stderr_has "ovl-commit: '$U/base.img.history': history store is a symlink: refused"
	run_tool ovl-history list "$U/base.img"
	assert_failure 1
	assert_stderr_has "history store is a symlink: refused"
	run_tool ovl-undo "$U/base.img"
	assert_failure 1
	assert_stderr_has "history store is a symlink: refused"
	run_tool ovl-renew --discard "$U/vm.ovl"
	assert_failure 1
	assert_equal "$(victim_sum)" "$before"
	[[ -L "$U/base.img.history" ]] || fail "the planted link was replaced"
}

@test "a store made by another user, with a journal row planted, is never run: list, commit and undo refuse" {
	local U=$ATK/user S base_sha rows
	committed "$U"
	S=$U/base.img.history
	sqlite3 "$S/history.db" "$PLANTED_ROW"
	chown -R "$ATK_UID:$ATK_GID" "$S"
	base_sha=$(sha "$U/base.img")
	run_tool ovl-history list "$U/vm.ovl"
	assert_failure 1
	assert_stderr_has "ovl-history: '$S': history store is owned by uid $ATK_UID, not by the user running ovl (uid 0): refused"
	run_tool ovl-history verify "$U/vm.ovl"
	assert_failure 1
	assert_stderr_has "owned by uid $ATK_UID"
	run_tool ovl-commit "$U/vm.ovl"
	assert_failure 1
	assert_stderr_has "owned by uid $ATK_UID"
	run_tool ovl-undo --to 0 "$U/vm.ovl"
	assert_failure 1
	assert_equal "$(sha "$U/base.img")" "$base_sha"
	rows=$(store_sql "$S" "SELECT count(*) FROM journal")
	assert_equal "$rows" 1
}

@test "a store directory created by another user before the first commit is not adopted" {
	local U=$ATK/user base_sha
	images "$U"
	as_attacker mkdir -m 0700 "$U/base.img.history"
	base_sha=$(sha "$U/base.img")
	run_tool ovl-commit "$U/vm.ovl"
	assert_failure 1
	assert_stderr_has "history store is owned by uid $ATK_UID"
	assert_equal "$(sha "$U/base.img")" "$base_sha"
	assert_equal "$(ls -A "$U/base.img.history")" ""
}

@test "a store directory writable by group or others is refused before its journal is read" {
	local S base_sha mode
	committed "$T"
	S=$T/base.img.history
	sqlite3 "$S/history.db" "$PLANTED_ROW"
	base_sha=$(sha base.img)
	for mode in 0770 0703; do
		chmod "$mode" "$S"
		run_tool ovl-history list vm.ovl
		assert_failure 1
		assert_stderr_has "'$S': history store is writable by group or others (mode $mode): refused"
		run_tool ovl-commit vm.ovl
		assert_failure 1
		assert_stderr_has "writable by group or others"
	done
	chmod 0700 "$S"
	chmod 0666 "$S/history.db"
	run_tool ovl-history list vm.ovl
	assert_failure 1
	assert_stderr_has "'$S/history.db': history store is writable by group or others (mode 0666): refused"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(store_sql "$S" "SELECT count(*) FROM journal")" 1
}

@test "history.db a symlink to a root file: refused, the file untouched" {
	local S before
	committed "$T"
	S=$T/base.img.history
	rm "$S/history.db"
	ln -s "$VICTIM" "$S/history.db"
	before=$(victim_sum)
	run_tool ovl-history list vm.ovl
	assert_failure 1
	assert_stderr_has "'$S/history.db': history store is a symlink: refused"
	run_tool ovl-commit vm.ovl
	assert_failure 1
	assert_stderr_has "history store is a symlink: refused"
	assert_equal "$(victim_sum)" "$before"
}

@test "history.db-wal a symlink to a root file: refused before sqlite opens it" {
	local S before
	committed "$T"
	S=$T/base.img.history
	ln -s "$VICTIM" "$S/history.db-wal"
	before=$(victim_sum)
	run_tool ovl-history list vm.ovl
	assert_failure 1
	assert_stderr_has "'$S/history.db-wal': history store is a symlink: refused"
	assert_equal "$(victim_sum)" "$before"
}

@test "commits/ a symlink to a root-only directory: refused, the directory untouched" {
	local S before
	committed "$T"
	S=$T/base.img.history
	rm -r "$S/commits"
	ln -s "$ATK/root" "$S/commits"
	before=$(victim_sum)
	run_tool ovl-commit vm.ovl
	assert_failure 1
	assert_stderr_has "'$S/commits': history store is a symlink: refused"
	run_tool ovl-history verify vm.ovl
	assert_failure 1
	assert_equal "$(victim_sum)" "$before"
}

@test "an archive that is a symlink to a root file is refused, not read or written" {
	local S before
	committed "$T"
	S=$T/base.img.history
	cp "$VICTIM" "$R/keep"
	rm "$S/commits/00000001.qcow2"
	ln -s "$VICTIM" "$S/commits/00000001.qcow2"
	before=$(victim_sum)
	run_tool ovl-history show 1 vm.ovl
	assert_failure 1
	assert_stderr_has "'$S/commits/00000001.qcow2': history store is a symlink: refused"
	run_tool ovl-undo --to 0 vm.ovl
	assert_failure 1
	assert_equal "$(victim_sum)" "$before"
}

# ---------------------------------------------------------------------------
# Names read back from history.db.

@test "a pristine name in meta that is not the store's own form is refused, naming the store" {
	local S before base_sha
	committed "$T"
	S=$T/base.img.history
	sqlite3 "$S/history.db" "UPDATE meta SET value = '../../../$VICTIM' WHERE key = 'pristine'"
	before=$(victim_sum)
	base_sha=$(sha base.img)
	run_tool ovl-history list vm.ovl
	assert_failure 1
	assert_stderr_has "ovl-history: '$S': history database names"
	assert_stderr_has "as the pristine copy, which is not a name of the store's own: refused"
	run_tool ovl-undo --to 0 vm.ovl
	assert_failure 1
	assert_stderr_has "not a name of the store's own"
	assert_equal "$(victim_sum)" "$before"
	assert_equal "$(sha base.img)" "$base_sha"
}

@test "an archive name in the log that is not the store's own form is refused, naming the store" {
	local S before base_sha
	committed "$T"
	S=$T/base.img.history
	sqlite3 "$S/history.db" "UPDATE commits SET file = '../../../$VICTIM' WHERE seq = 1"
	before=$(victim_sum)
	base_sha=$(sha base.img)
	run_tool ovl-history show 1 vm.ovl
	assert_failure 1
	assert_stderr_has "ovl-history: '$S': history database names"
	assert_stderr_has "as the archive of commit 1, which is not a name of the store's own: refused"
	run_tool ovl-undo --to 0 vm.ovl
	assert_failure 1
	assert_equal "$(victim_sum)" "$before"
	assert_equal "$(sha base.img)" "$base_sha"
}

# ---------------------------------------------------------------------------
# The store swapped for a symlink while a tool runs.

# swap_wrapper DIR: a qemu-img first on PATH that, at the first
# `qemu-img commit`, has the attacker rename the store DIR/base.img.history
# away (to DIR/moved) and put a symlink to root's directory in its place.
swap_wrapper() {
	local bin=$BATS_TEST_TMPDIR/swap-bin dir=$1
	mkdir -p "$bin"
	cat >"$bin/qemu-img" <<EOF
#!/bin/bash
for a in "\$@"; do
	case "\$a" in -*) ;; *) sub=\$a; break ;; esac
done
if [[ "\$sub" == commit && ! -e '$BATS_TEST_TMPDIR/swapped' ]]; then
	: >'$BATS_TEST_TMPDIR/swapped'
	setpriv --reuid=$ATK_UID --regid=$ATK_GID --clear-groups -- \
		mv '$dir/base.img.history' '$dir/moved' &&
	setpriv --reuid=$ATK_UID --regid=$ATK_GID --clear-groups -- \
		ln -s '$ATK/root' '$dir/base.img.history'
fi
exec '$REAL_QEMU_IMG' "\$@"
EOF
	chmod +x "$bin/qemu-img"
	PATH="$bin:$PATH"
}

@test "the store renamed away and replaced by a symlink mid-commit: every write still lands in the real store" {
	local U=$ATK/user before
	committed "$U"
	before=$(victim_sum)
	swap_wrapper "$U"
	run_tool ovl-commit "$U/vm.ovl"
	[[ -e "$BATS_TEST_TMPDIR/swapped" ]] || fail "the wrapper never swapped the store"
	[[ -L "$U/base.img.history" ]] || fail "the swap did not happen"
	assert_success
	assert_equal "$(victim_sum)" "$before"
	# The commit is complete in the store, wherever it now is.
	[[ -f "$U/moved/commits/00000002.qcow2" ]] || fail "archive 2 is not in the real store"
	assert_equal "$(store_sql "$U/moved" "SELECT count(*) FROM commits WHERE pending = 0")" 2
	assert_equal "$(store_sql "$U/moved" "SELECT count(*) FROM journal")" 0
	assert_equal "$(store_head "$U/moved")" 2
	# And the next run refuses the link.
	run_tool ovl-history list "$U/vm.ovl"
	assert_failure 1
	assert_stderr_has "history store is a symlink: refused"
}

# ---------------------------------------------------------------------------
# Private directories.

# history_of_two DIR: two commits in DIR, root's.
history_of_two() {
	images "$1"
	run_tool ovl-commit "$1/vm.ovl"
	assert_success
	write_data "$1/vm.ovl" 'write -P 0x32 2M 1M'
	run_tool ovl-commit "$1/vm.ovl"
	assert_success
}

# A pid no process has.
dead_pid() {
	local p=4000000
	while kill -0 "$p" 2>/dev/null; do p=$((p + 1)); done
	printf '%s\n' "$p"
}

@test "a planted ovl-nbd.* symlink in TMPDIR to a root directory: its files survive the sweep" {
	local pid before
	history_of_two "$T"
	# A TMPDIR like /tmp: root's, sticky, everyone may write.
	export TMPDIR=$ATK/tmp
	mkdir -m 1777 "$TMPDIR"
	pid=$(dead_pid)
	as_attacker ln -s "$ATK/root" "$TMPDIR/ovl-nbd.$pid.evil01"
	as_attacker mkdir "$TMPDIR/ovl-nbd.$pid.evil02"
	as_attacker touch "$TMPDIR/ovl-nbd.$pid.evil02/theirs"
	# A dead run of root's own is still swept.
	mkdir -m 0700 "$TMPDIR/ovl-nbd.$pid.ours01"
	touch "$TMPDIR/ovl-nbd.$pid.ours01/nbd.sock"
	before=$(victim_sum)
	run_tool ovl-undo --to 1 vm.ovl
	assert_success
	assert_equal "$(victim_sum)" "$before"
	[[ -L "$TMPDIR/ovl-nbd.$pid.evil01" ]] || fail "the planted link is gone"
	[[ -f "$TMPDIR/ovl-nbd.$pid.evil02/theirs" ]] || fail "the attacker's directory was emptied"
	[[ ! -e "$TMPDIR/ovl-nbd.$pid.ours01" ]] || fail "a dead run's own directory was not swept"
}

# ---------------------------------------------------------------------------
# Locks.

# meet_wrapper: a qemu-img first on PATH whose `commit` waits (up to 15 s)
# until two commits have started, then logs "met" (or "alone").
meet_wrapper() {
	local bin=$BATS_TEST_TMPDIR/meet-bin sync=$BATS_TEST_TMPDIR/sync
	mkdir -p "$bin" "$sync"
	cat >"$bin/qemu-img" <<EOF
#!/bin/bash
for a in "\$@"; do
	case "\$a" in -*) ;; *) sub=\$a; break ;; esac
done
if [[ "\$sub" == commit ]]; then
	: >'$sync/'\$\$
	for ((i = 0; i < 150; i++)); do
		((\$(ls '$sync' | wc -l) >= 2)) && break
		sleep 0.1
	done
	if ((\$(ls '$sync' | wc -l) >= 2)); then echo met; else echo alone; fi >>'$BATS_TEST_TMPDIR/meet.log'
fi
exec '$REAL_QEMU_IMG' "\$@"
EOF
	chmod +x "$bin/qemu-img"
	PATH="$bin:$PATH"
}

@test "two overlays of different bases in one directory are committed at the same time" {
	local a b
	(make_base b1.img 16M && make_overlay v1.ovl b1.img raw && write_data v1.ovl) || fail "images"
	(make_base b2.img 16M && make_overlay v2.ovl b2.img raw && write_data v2.ovl) || fail "images"
	meet_wrapper
	timeout 60 ovl-commit v1.ovl >"$R/out1" 2>&1 &
	a=$!
	timeout 60 ovl-commit v2.ovl >"$R/out2" 2>&1 &
	b=$!
	wait "$a" || fail "first commit failed: $(cat "$R/out1")"
	wait "$b" || fail "second commit failed: $(cat "$R/out2")"
	assert_equal "$(sort "$BATS_TEST_TMPDIR/meet.log" | tr '\n' ' ')" "met met "
	assert_equal "$(store_head b1.img.history)" 1
	assert_equal "$(store_head b2.img.history)" 1
}

@test "the overlay file is locked, not its directory: a holder makes commit wait ~10 s, then busy (3)" {
	local t0 t1 ovl_sha
	images "$T"
	hold_lock vm.ovl
	ovl_sha=$(sha vm.ovl)
	t0=${EPOCHREALTIME/./}
	run_tool ovl-commit vm.ovl
	t1=${EPOCHREALTIME/./}
	assert_failure 3
	assert_stderr_has "another ovl process is working here"
	(((t1 - t0) >= 9000000)) || fail "gave up after $(((t1 - t0) / 1000)) ms, not ~10 s"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	[[ ! -e base.img.history ]] || fail "a store was made"
}

@test "the overlay's flock and qemu's OFD locks do not interfere" {
	images "$T"
	# qemu's locks held: ours is still free, and the probe still sees qemu.
	start_nbd vm.ovl qcow2
	flock -n -x vm.ovl true || fail "qemu-nbd's locks kept flock from the overlay"
	run_tool ovl-commit vm.ovl
	assert_failure 3
	assert_stderr_has "image is in use"
	stop_nbd
	# Our lock held: qemu opens the image with its locks as usual.
	hold_lock vm.ovl
	run timeout 20 qemu-io -f qcow2 -c 'read 0 64k' vm.ovl
	assert_success
}

@test "ovl-history list while another ovl process holds the store: at once, the last state, in progress" {
	local S t0 t1
	history_of_two "$T"
	S=$T/base.img.history
	hold_lock "$S"
	t0=${EPOCHREALTIME/./}
	run_tool ovl-history list vm.ovl
	t1=${EPOCHREALTIME/./}
	assert_success
	(((t1 - t0) < 3000000)) || fail "list took $(((t1 - t0) / 1000)) ms"
	assert_stderr_has "'$S': another ovl operation is in progress; showing the last committed state"
	[[ "$output" == *"*      2 "* ]] || fail "list does not show head 2: $output"
	run_tool ovl-history --output=json list vm.ovl
	assert_success
	assert_equal "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["in_progress"], d["head"], len(d["commits"]))' <<<"$output")" "True 2 2"
	# Writers still wait for it.
	t0=${EPOCHREALTIME/./}
	run_tool ovl-undo --to 1 vm.ovl
	t1=${EPOCHREALTIME/./}
	assert_failure 3
	(((t1 - t0) >= 9000000)) || fail "gave up after $(((t1 - t0) / 1000)) ms, not ~10 s"
}

@test "list with a crashed run's journal and nobody holding the store finishes it first" {
	local S
	history_of_two "$T"
	S=$T/base.img.history
	# A commit interrupted before the base was written: rolled back.
	sqlite3 "$S/history.db" "INSERT INTO commits(time_us, size, file, size_before, size_after, pending) VALUES (0, 0, 'commits/00000003.qcow2', 0, 0, 1); INSERT INTO journal(op, seq, step, started_us, args) VALUES ('commit', 3, 'archive', 0, '{}')"
	run_tool ovl-history list vm.ovl
	assert_success
	[[ "$output" != *"in progress"* && "$stderr" != *"in progress"* ]] || fail "said in progress: $stderr"
	assert_equal "$(store_sql "$S" "SELECT count(*) FROM journal")" 0
}

@test "verify while another run makes a commit: nothing run, the archive being made is no stray, in progress said" {
	local S
	history_of_two "$T"
	S=$T/base.img.history
	cp "$S/commits/00000002.qcow2" "$S/commits/00000003.qcow2"
	sqlite3 "$S/history.db" "INSERT INTO commits(time_us, size, file, size_before, size_after, pending) VALUES (0, 0, 'commits/00000003.qcow2', 0, 0, 1); INSERT INTO journal(op, seq, step, started_us, args) VALUES ('commit', 3, 'commit', 0, '{}')"
	hold_lock "$S"
	run_tool ovl-history verify vm.ovl
	assert_success
	assert_stderr_has "another ovl operation is in progress"
	run_tool ovl-history --output=json verify vm.ovl
	assert_success
	assert_equal "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["in_progress"], d["sound"])' <<<"$output")" "True True"
	assert_equal "$(store_sql "$S" "SELECT count(*) FROM journal")" 1
}
