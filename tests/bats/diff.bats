#!/usr/bin/env bats
# ovl-history diff N: the files commit N added, removed or changed inside
# the guest's filesystems (libguestfs).
#
# The guest filesystems are made for real with mke2fs -d from directory
# trees: each state is a whole raw disk (a DOS label and two ext4
# partitions) built from the trees as they are then, and the overlay is
# made to hold it with `qemu-img convert -B` (only the clusters that differ
# from the base), then committed with ovl-commit.  The trees are changed
# in place between states, so a file left alone keeps its ctime and reads
# as unchanged.
#
# Starting a libguestfs appliance takes a while (TCG: this machine's KVM
# cannot run it, see design/qemu-img-notes.md), so the history with
# filesystems is made once for the file, and every test that needs an
# appliance is skipped when `libguestfs-test-tool` fails here.  Tests that
# stop before an appliance starts (a commit that names nothing, a missing
# archive) run either way.  TMPDIR is private, so that anything left
# behind (a socket directory, a libguestfs scratch directory) is seen.

load helpers

# ---------------------------------------------------------------------------
# The shared history (made in setup_file).

# mkdisk OUT BOOT-TREE ROOT-TREE: an 80 MiB raw disk with a DOS label,
# partition 1 (32 MiB) an ext4 made from BOOT-TREE, partition 2 (the rest)
# one made from ROOT-TREE.
mkdisk() {
	rm -f -- "$1"
	truncate -s 80M "$1" || return 1
	printf 'label: dos\nstart=2048, size=65536, type=83\nstart=67584, type=83\n' |
		sfdisk -q "$1" || return 1
	mke2fs -q -t ext4 -E offset=$((2048 * 512)) -d "$2" "$1" 32M || return 1
	mke2fs -q -t ext4 -E offset=$((67584 * 512)) -d "$3" "$1" 47M
}

# commit_disk DIR MESSAGE: the guest writes disk DIR/next.raw (the overlay
# gets what differs from the base), then ovl-commit.
commit_disk() {
	local d=$1
	rm -f -- "$d/vm.ovl"
	qemu-img convert -q -f raw -O qcow2 -B "$d/base.img" -F raw \
		"$d/next.raw" "$d/vm.ovl" || return 1
	rm -f -- "$d/next.raw"
	ovl-commit -q -m "$2" "$d/vm.ovl"
}

# make_fs_history DIR: DIR/base.img (raw, two ext4 partitions), its
# overlay DIR/vm.ovl and history:
#   commit 1  /dev/sda1: /kernel rewritten; /dev/sda2: files added (one a
#             symlink, one with a space and one with a newline in its
#             name), a directory tree removed, a file appended to, a
#             file's mode changed
#   commit 2  /dev/sda2: /etc/two added; then undone (ovl-undo --to 1),
#             so abandoned by commit 3
#   commit 3  /dev/sda2: /etc/three and two files whose names are not
#             UTF-8 added, /etc/old.conf removed, /etc/keep.conf
#             appended to
make_fs_history() {
	local d=$1 t=$1/trees
	mkdir -p "$t/boot" "$t/root/etc" "$t/root/var/log" "$t/root/home/u" \
		"$t/root/old/sub"
	echo kernel-1 >"$t/boot/kernel"
	echo config >"$t/boot/config"
	echo keep >"$t/root/etc/keep.conf"
	echo old >"$t/root/etc/old.conf"
	echo boot >"$t/root/var/log/syslog"
	echo doc >"$t/root/home/u/doc"
	echo gone >"$t/root/old/gone"
	echo x >"$t/root/old/sub/x"
	mkdisk "$d/base.img" "$t/boot" "$t/root" || return 1
	qemu-img create -q -f qcow2 -b "$d/base.img" -F raw "$d/vm.ovl" || return 1

	# mke2fs -d keeps whole seconds of the trees' timestamps: every change
	# made here changes a size, a mode or a name, or it might not show.
	echo kernel-2-patched >"$t/boot/kernel"
	echo new >"$t/root/etc/new.conf"
	ln -s new.conf "$t/root/etc/link"
	echo space >"$t/root/etc/with space.conf"
	echo newline >"$t/root/etc/nl"$'\n'"name"
	rm -r -- "$t/root/old"
	echo more >>"$t/root/var/log/syslog"
	chmod 600 "$t/root/home/u/doc"
	mkdisk "$d/next.raw" "$t/boot" "$t/root" && commit_disk "$d" one || return 1

	echo two >"$t/root/etc/two"
	mkdisk "$d/next.raw" "$t/boot" "$t/root" && commit_disk "$d" two || return 1
	ovl-undo -q --to 1 "$d/vm.ovl" || return 1
	rm -- "$t/root/etc/two"

	echo three >"$t/root/etc/three"
	echo latin1 >"$t/root/etc/caf"$'\xe9'
	echo stray >"$t/root/etc/a"$'\x80'"b"
	rm -- "$t/root/etc/old.conf"
	echo again >>"$t/root/etc/keep.conf"
	mkdisk "$d/next.raw" "$t/boot" "$t/root" && commit_disk "$d" three
}

setup_file() {
	export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
	# libguestfs keeps its appliance under the cache directory, which is
	# TMPDIR unless this is set: the tests' private TMPDIR would make it
	# build the appliance again for every test.
	export LIBGUESTFS_CACHEDIR=${LIBGUESTFS_CACHEDIR:-/var/tmp}
	# Short, so that the tool uses it for its sockets (a long TMPDIR is
	# passed over for /tmp).
	DIFF_TMP=$(mktemp -d /tmp/ovl-dt.XXXXXX)
	export DIFF_TMP

	local why=
	if [[ -f "$OVL_BUILDDIR/config.h" ]] &&
		! grep -q '^#define HAVE_LIBGUESTFS 1' "$OVL_BUILDDIR/config.h"; then
		printf 'built without libguestfs\n' >"$BATS_FILE_TMPDIR/no-libguestfs"
		why="ovl was built without libguestfs"
	elif ! command -v libguestfs-test-tool >/dev/null; then
		why="libguestfs appliance does not start here: no libguestfs-test-tool"
	elif ! TMPDIR=$DIFF_TMP timeout 900 libguestfs-test-tool \
		>"$BATS_FILE_TMPDIR/test-tool.log" 2>&1; then
		why="libguestfs appliance does not start here: $(grep -m1 -i 'error' \
			"$BATS_FILE_TMPDIR/test-tool.log")"
	fi
	printf '%s' "$why" >"$BATS_FILE_TMPDIR/no-appliance"
	rm -rf -- "${DIFF_TMP:?}"/*

	H=$BATS_FILE_TMPDIR/h
	export H
	mkdir -p "$H"
	make_fs_history "$H" >"$BATS_FILE_TMPDIR/history.log" 2>&1 ||
		fail "cannot make the history: $(cat "$BATS_FILE_TMPDIR/history.log")"
}

teardown_file() {
	[[ -n "${DIFF_TMP:-}" ]] && rm -rf -- "$DIFF_TMP"
}

setup() {
	ovl_setup
	export TMPDIR=$DIFF_TMP
}

teardown() {
	ovl_teardown
	rm -rf -- "${DIFF_TMP:?}"/*
}

# ---------------------------------------------------------------------------
# Helpers of this suite.

need_appliance() {
	local why
	why=$(cat "$BATS_FILE_TMPDIR/no-appliance")
	[[ -z "$why" ]] || skip "$why"
}

need_libguestfs() {
	[[ ! -f "$BATS_FILE_TMPDIR/no-libguestfs" ]] || skip "ovl was built without libguestfs"
}

run_diff() {
	run --separate-stderr timeout 600 ovl-history "$@"
}

# shellcheck disable=SC2154 # stderr is set by run --separate-stderr
assert_stderr_has() {
	[[ "$stderr" == *"$1"* ]] || fail "stderr does not mention '$1': $stderr"
}

# Nothing of the tool's is left: no private or libguestfs directory in
# TMPDIR, no qemu-nbd serving from one.
assert_nothing_left() {
	local left
	left=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 -print)
	[[ -z "$left" ]] || fail "left behind in TMPDIR: $left"
	left=$(pgrep -af -- "$TMPDIR/" || true)
	[[ -z "$left" ]] || fail "still running: $left"
}

# small_history: base.img (16 MiB of random bytes: no filesystem at all),
# vm.ovl, and two commits of qemu-io writes.
small_history() {
	head -c 16M /dev/urandom >base.img
	make_overlay vm.ovl "$PWD/base.img" raw
	qio vm.ovl qcow2 'write -P 0x11 0 1M'
	ovl-commit -q vm.ovl || fail "commit 1 failed"
	qio vm.ovl qcow2 'write -P 0x22 4M 1M'
	ovl-commit -q vm.ovl || fail "commit 2 failed"
}

# ---------------------------------------------------------------------------
# What a commit changed.

@test "diff lists the files a commit added, removed and changed, per filesystem" {
	need_appliance
	run_diff diff 1 "$H/base.img"
	assert_success
	assert_equal "$stderr" ""
	assert_output - <<'EOF'
/dev/sda1 (ext4):
M /kernel

/dev/sda2 (ext4):
A /etc/link
A /etc/new.conf
A /etc/nl\nname
A /etc/with space.conf
M /home/u/doc
D /old
D /old/gone
D /old/sub
D /old/sub/x
M /var/log/syslog
EOF
	assert_nothing_left
}

@test "diff --output=json compares with the previous kept state, and changes nothing" {
	need_appliance
	local before_img before_store
	before_img=$(snap "$H")
	before_store=$(snap "$H/base.img.history")
	# Commit 2 was abandoned: the state before commit 3 is state 1.  Bytes
	# of a name that are not UTF-8 are U+FFFD in "added", and the exact
	# bytes (as latin-1 characters) are in "added_bytes", null for the
	# names that are UTF-8.
	run_diff --output=json diff 3 "$H/vm.ovl"
	assert_success
	assert_equal "$stderr" ""
	run python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(json.dumps(d, sort_keys=True))
' "$output"
	assert_success
	assert_output '{"filesystems": [{"added": [], "changed": [], "device": "/dev/sda1", "removed": [], "type": "ext4"}, {"added": ["/etc/a\ufffdb", "/etc/caf\ufffd", "/etc/three"], "added_bytes": ["/etc/a\u0080b", "/etc/caf\u00e9", null], "changed": ["/etc/keep.conf"], "device": "/dev/sda2", "removed": ["/etc/old.conf"], "type": "ext4"}], "from": 1, "seq": 3}'
	# Read-only: the store (database, pristine copy, archives), the base
	# and the overlay are as they were, to the byte.
	assert_equal "$(snap "$H")" "$before_img"
	assert_equal "$(snap "$H/base.img.history")" "$before_store"
	assert_nothing_left
}

@test "diff on a disk with no filesystem fails with a message" {
	need_appliance
	small_history
	local before
	before=$(snap .)
	run_diff diff 2 base.img
	assert_failure 1
	assert_output ""
	assert_stderr_has "ovl-history: '$PWD/base.img': no filesystem libguestfs can read"
	assert_equal "$(snap .)" "$before"
	assert_nothing_left
}

@test "diff on a single filesystem prints no header" {
	need_appliance
	mkdir -p tree
	echo a >tree/a
	mke2fs -q -t ext4 -d tree base.img 32M
	make_overlay vm.ovl "$PWD/base.img" raw
	rm tree/a
	echo b >tree/b
	mke2fs -q -t ext4 -d tree next.raw 32M
	rm vm.ovl
	qemu-img convert -q -f raw -O qcow2 -B "$PWD/base.img" -F raw next.raw vm.ovl
	rm next.raw
	ovl-commit -q vm.ovl
	run_diff diff 1 vm.ovl
	assert_success
	assert_output - <<'EOF'
D /a
A /b
EOF
	assert_nothing_left
}

@test "a killed diff leaves no qemu-nbd behind, and the next run sweeps its directory" {
	need_appliance
	local pid n apps=
	ovl-history diff 1 "$H/base.img" >/dev/null 2>&1 3>&- &
	pid=$!
	# Kill it once both appliances run (their scratch is in TMPDIR).
	for ((n = 0; n < 600; n++)); do
		apps=$(pgrep -af -- "$TMPDIR/libguestfs" | grep -F guestfsd.sock || true)
		[[ $(grep -c . <<<"$apps") -ge 2 ]] && break
		sleep 0.1
	done
	kill -9 "$pid"
	wait "$pid" || true
	# libguestfs keeps its sockets in /tmp for root whatever TMPDIR says,
	# and a killed run leaves them: remove those of these appliances.
	grep -oE '/tmp/libguestfs[A-Za-z0-9]{6}/guestfsd\.sock' <<<"$apps" | sort -u |
		while IFS= read -r n; do rm -rf -- "${n%/guestfsd.sock}"; done
	# libguestfs kills its appliances when their owner dies; then the
	# servers have no client left, and exit.
	for ((n = 0; n < 300; n++)); do
		pgrep -f -- "$TMPDIR/" >/dev/null || break
		sleep 0.1
	done
	run pgrep -af -- "$TMPDIR/"
	assert_output ""
	run find "$TMPDIR" -maxdepth 1 -name "ovl-diff.$pid.*"
	[[ -n "$output" ]] || fail "the killed run left no directory (killed too early?)"
	# A run that stops at once (no such archive) still sweeps.
	small_history
	rm -- "base.img.history/$(store_sql base.img.history "SELECT file FROM commits WHERE seq = 2")"
	run_diff diff 2 base.img
	assert_failure 1
	run find "$TMPDIR" -maxdepth 1 -name 'ovl-diff.*'
	assert_output ""
}

# ---------------------------------------------------------------------------
# Commits that name nothing to compare (no appliance is started).

@test "diff of an unknown commit fails" {
	need_libguestfs
	run_diff diff 9 "$H/base.img"
	assert_failure 1
	assert_stderr_has "no commit 9 in this history"
	run_diff diff 0 "$H/base.img"
	assert_failure 1
	assert_stderr_has "no commit 0 in this history"
	assert_nothing_left
}

@test "diff of an abandoned commit fails" {
	need_libguestfs
	run_diff diff 2 "$H/base.img"
	assert_failure 1
	assert_output ""
	assert_stderr_has "commit 2 was abandoned"
}

@test "diff of a pruned commit fails" {
	need_libguestfs
	small_history
	ovl-history -q prune --keep-last 1 base.img
	run_diff diff 1 base.img
	assert_failure 1
	assert_stderr_has "commit 1 was pruned"
	assert_nothing_left
}

@test "diff with an archive missing fails naming it and leaves nothing behind" {
	need_libguestfs
	small_history
	local archive
	archive=$(store_sql base.img.history "SELECT file FROM commits WHERE seq = 2")
	rm -- "base.img.history/$archive"
	run_diff diff 2 base.img
	assert_failure 1
	# Found missing by the archive check, before any server starts.
	assert_stderr_has "archive is missing"
	assert_stderr_has "$PWD/base.img.history/$archive"
	assert_nothing_left
}

@test "diff needs N and an image" {
	run_diff diff "$H/base.img"
	assert_failure 2
	run_diff diff x "$H/base.img"
	assert_failure 2
}

@test "without libguestfs, diff says so" {
	[[ -f "$BATS_FILE_TMPDIR/no-libguestfs" ]] || skip "ovl was built with libguestfs"
	run_diff diff 1 "$H/base.img"
	assert_failure 1
	assert_stderr_has "built without libguestfs"
}
