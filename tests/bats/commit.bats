#!/usr/bin/env bats
# ovl-commit: commit an overlay into its base, keep the old overlay in the
# base's history store, renew the overlay.
#
# Every commit is proven with qemu-img compare: a raw copy of the guest's
# view (overlay over base) is taken BEFORE the commit, in a directory of its
# own ($R); afterwards the base alone and the renewed overlay over the base
# must both read exactly like it.  "Nothing written" is proven with sha256
# checksums of the files.  The history database is read with sqlite3.

load helpers

setup() {
	ovl_setup
	# Reference copies live outside the images' directory, so that the
	# directory listings checked below are the tool's doing only.
	R=$(ovl_mktmp)
	MOUNTS_FILE="$BATS_TEST_TMPDIR/.mounts"
	: >"$MOUNTS_FILE"
}

teardown() {
	# Processes first (a VM or a lock holder may keep a mount busy).
	ovl_teardown
	local m
	if [[ -f "$MOUNTS_FILE" ]]; then
		tac "$MOUNTS_FILE" | while IFS= read -r m; do
			[[ -n "$m" ]] || continue
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
		: >"$MOUNTS_FILE"
	fi
}

# ---------------------------------------------------------------------------
# Helpers of this suite.

run_commit() {
	run --separate-stderr timeout 60 ovl-commit "$@"
}

# The tool's error output mentions TEXT.
assert_stderr_has() {
	[[ "$stderr" == *"$1"* ]] || fail "stderr does not mention '$1': $stderr"
}

# pair [DIR]: DIR/base.img, a 64 MiB raw base with data at its start and
# its end, and DIR/vm.ovl, an empty overlay on it (backing name relative).
pair() {
	local d=${1:-.}
	mkdir -p -- "$d"
	(cd -- "$d" && make_base base.img 64M && make_overlay vm.ovl base.img raw)
}

# put OVERLAY [qemu-io command]: guest data into the overlay (through the
# overlay alone: the base is never opened).
put() {
	write_data "$1" "${2:-write -P 0xab 1M 2M}"
}

# ref OVERLAY NAME: a raw copy of the guest's view of OVERLAY, as $R/NAME.
ref() {
	rm -f -- "$R/$2"
	qemu-img convert -f qcow2 -O raw "$(qpath "$1")" "$R/$2"
}

# assert_raw_same A B: two raw images read the same.
assert_raw_same() {
	run qemu-img compare -f raw -F raw "$(qpath "$1")" "$(qpath "$2")"
	assert_success
}

# assert_view OVERLAY REF: the guest sees REF (raw) through OVERLAY.
assert_view() {
	run qemu-img compare -f qcow2 -F raw "$(qpath "$1")" "$(qpath "$2")"
	assert_success
}

# assert_committed OVERLAY BASE REF: the base reads like REF, and the
# overlay is a clean empty overlay through which the guest still sees REF.
assert_committed() {
	assert_raw_same "$2" "$3"
	assert_renewed "$1" "$2"
	assert_view "$1" "$3"
}

# assert_archive STORE N BELOW REF: archived overlay N, opened over the
# raw image BELOW (the state before it), reads like REF.
assert_archive() {
	local a
	a=$(printf '%s/commits/%08d.qcow2' "$1" "$2")
	[[ -f "$a" ]] || fail "no archive $a"
	assert_equal "$(info_field "$a" format)" qcow2
	run qemu-img compare --image-opts \
		"driver=qcow2,file.driver=file,file.filename=${a//,/,,},backing.driver=raw,backing.file.driver=file,backing.file.filename=${3//,/,,}" \
		"driver=raw,file.driver=file,file.filename=${4//,/,,}"
	assert_success
}

# sql DB QUERY: run QUERY on a closed history database without writing
# anything beside it (no -wal, no -shm).
sql() {
	command -v sqlite3 >/dev/null || fail "sqlite3 is needed (scripts/deps.sh)"
	local uri
	uri=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")
	sqlite3 -batch -noheader "file:$uri?immutable=1" "$2"
}

# The number of commit rows (done or not) in a store.
rows() {
	sql "$1/history.db" 'SELECT count(*) FROM commits'
}

# assert_clean_history STORE N: N commits, all done, journal empty.
assert_clean_history() {
	local db=$1/history.db
	assert_equal "$(sql "$db" 'SELECT count(*) FROM commits WHERE pending = 0')" "$2"
	assert_equal "$(sql "$db" 'SELECT count(*) FROM commits WHERE pending <> 0')" 0
	assert_equal "$(sql "$db" 'SELECT count(*) FROM journal')" 0
}

# wait_qemu_locked FILE: some process holds qemu's locks on FILE.
wait_qemu_locked() {
	local ino i
	ino=$(stat -L -c %i -- "$1")
	for ((i = 0; i < 200; i++)); do
		grep -Eq "^[0-9]+: OFDLCK .*:$ino (1|2)[0-9][0-9] " /proc/locks && return 0
		sleep 0.05
	done
	fail "nothing locks '$1'"
}

# mount_tmpfs DIR SIZE: a tmpfs of SIZE on DIR (created), unmounted in
# teardown; skips the test where mounting is not allowed.
mount_tmpfs() {
	mkdir -p -- "$1"
	mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" 2>/dev/null ||
		skip "cannot mount a tmpfs here (needs root outside a restricted container)"
	printf '%s\n' "$1" >>"$MOUNTS_FILE"
}

# ---------------------------------------------------------------------------
# The first commit.

@test "first commit: store made 0700 with history.db, pristine copy of the original base, archive 1; base holds the guest's data; overlay renewed" {
	pair
	cp --sparse=always base.img "$R/orig.raw"
	put vm.ovl 'write -P 0xab 1M 2M'
	put vm.ovl 'write -z 40M 64k'       # a zero write hides base data too
	put vm.ovl 'write -P 0x77 63M 64k'
	ref vm.ovl ref.raw
	local ino_before
	ino_before=$(inode vm.ovl)

	run_commit -m "first one" vm.ovl
	assert_success
	assert_output --partial "commit 1"

	local S=$PWD/base.img.history
	[[ -d "$S" ]] || fail "no store $S"
	assert_equal "$(stat -c %a "$S")" 700
	[[ -f "$S/history.db" ]] || fail "no history.db"
	# The pristine copy is the base as it was before the commit.
	[[ -f "$S/pristine.raw" ]] || fail "no pristine.raw"
	assert_raw_same "$S/pristine.raw" "$R/orig.raw"
	assert_equal "$(sha "$S/pristine.raw")" "$(sha "$R/orig.raw")"
	# The archived overlay over the pristine copy is the guest's view.
	assert_archive "$S" 1 "$S/pristine.raw" "$R/ref.raw"

	assert_committed vm.ovl base.img "$R/ref.raw"
	[[ "$(inode vm.ovl)" != "$ino_before" ]] || fail "overlay was not replaced"
	assert_equal "$(info_field vm.ovl backing-filename)" base.img
	assert_equal "$(info_field vm.ovl backing-filename-format)" raw

	# The log.
	local db=$S/history.db
	assert_clean_history "$S" 1
	assert_equal "$(sql "$db" 'SELECT seq, message, tag IS NULL, size, file FROM commits')" \
		"1|first one|1|2228224|commits/00000001.qcow2"
	assert_equal "$(sql "$db" "SELECT value FROM meta WHERE key = 'head'")" 1
	assert_equal "$(sql "$db" "SELECT value FROM meta WHERE key = 'base'")" "$(realpath base.img)"
	assert_equal "$(sql "$db" "SELECT value FROM meta WHERE key = 'overlay'")" "$(realpath vm.ovl)"

	# Nothing else was left beside the images.
	assert_equal "$(names_in .)" "$(names_list base.img base.img.history vm.ovl)"
	assert_equal "$(names_in "$S")" "$(names_list commits history.db pristine.raw)"
	assert_equal "$(names_in "$S/commits")" "$(names_list 00000001.qcow2)"

	# The renewed overlay is empty: a second run has nothing to do.
	local before
	before=$(snap .)
	run_commit vm.ovl
	assert_success
	assert_output --partial "skipped"
	assert_equal "$(snap .)" "$before"
	assert_clean_history "$S" 1
}

@test "second and third commits: seq 2 and 3, base right each time, every archive holds its own change" {
	pair
	cp --sparse=always base.img "$R/state0.raw"
	# Not "i": bats 1.8.2's run leaks a global i (bats_version_lt).
	local n S=$PWD/base.img.history
	for n in 1 2 3; do
		put vm.ovl "write -P 0x$n$n $((n * 4))M 1M"
		put vm.ovl "write -P 0x$((n + 3))0 0 64k"     # overwrites every time
		ref vm.ovl "state$n.raw"
		run_commit -m "commit number $n" vm.ovl
		assert_success
		assert_output --partial "commit $n"
		assert_committed vm.ovl base.img "$R/state$n.raw"
		assert_clean_history "$S" "$n"
		assert_equal "$(sql "$S/history.db" "SELECT value FROM meta WHERE key = 'head'")" "$n"
	done
	assert_equal "$(sql "$S/history.db" 'SELECT group_concat(seq || ":" || message, ",") FROM (SELECT * FROM commits ORDER BY seq)')" \
		"1:commit number 1,2:commit number 2,3:commit number 3"
	assert_equal "$(names_in "$S/commits")" \
		"$(names_list 00000001.qcow2 00000002.qcow2 00000003.qcow2)"
	# Archive N over state N-1 gives state N: what undo and redo replay.
	assert_archive "$S" 1 "$R/state0.raw" "$R/state1.raw"
	assert_archive "$S" 2 "$R/state1.raw" "$R/state2.raw"
	assert_archive "$S" 3 "$R/state2.raw" "$R/state3.raw"
	# The pristine copy is still state 0.
	assert_raw_same "$S/pristine.raw" "$R/state0.raw"
	assert_equal "$(names_in .)" "$(names_list base.img base.img.history vm.ovl)"
}

# ---------------------------------------------------------------------------
# Message and tag.

@test "-m and --tag are stored as given; a duplicate --tag fails (1) and changes nothing" {
	pair
	local S=$PWD/base.img.history msg="it's a \"test\"; DROP TABLE commits; --"
	put vm.ovl
	ref vm.ovl ref1.raw
	run_commit -m "$msg" --tag v1 vm.ovl
	assert_success
	assert_committed vm.ovl base.img "$R/ref1.raw"
	assert_equal "$(sql "$S/history.db" 'SELECT message FROM commits WHERE seq = 1')" "$msg"
	assert_equal "$(sql "$S/history.db" 'SELECT tag FROM commits WHERE seq = 1')" v1

	put vm.ovl 'write -P 0xcd 8M 1M'
	ref vm.ovl ref2.raw
	local base_sha ovl_sha store_before n
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	store_before=$(snap "$S")
	n=$(rows "$S")
	run_commit -m other --tag v1 vm.ovl
	assert_failure 1
	assert_stderr_has v1
	assert_stderr_has "already"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_equal "$(rows "$S")" "$n"
	assert_equal "$(snap "$S")" "$store_before"
	assert_view vm.ovl "$R/ref2.raw"

	# A fresh tag works; the old one still names commit 1.
	run_commit --tag v2 vm.ovl
	assert_success
	assert_committed vm.ovl base.img "$R/ref2.raw"
	assert_clean_history "$S" 2
	assert_equal "$(sql "$S/history.db" "SELECT seq FROM commits WHERE tag = 'v1'")" 1
	assert_equal "$(sql "$S/history.db" "SELECT count(*) FROM commits WHERE tag = 'v2' AND message IS NULL")" 1
}

@test "--tag with an empty name is a usage error (2)" {
	pair
	put vm.ovl
	local before
	before=$(snap .)
	run_commit --tag "" vm.ovl
	assert_failure 2
	assert_equal "$(snap .)" "$before"
}

# ---------------------------------------------------------------------------
# --min-size, empty overlays.

@test "--min-size: less data than SIZE is skipped (0, nothing written), SIZE or more is committed" {
	pair
	put vm.ovl 'write -P 0xab 4M 1M'      # exactly 1 MiB allocated
	ref vm.ovl ref.raw
	local base_sha ovl_sha
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)

	run_commit --min-size 2M vm.ovl
	assert_success
	assert_output --partial "skipped"
	run_commit --min-size 1048577 vm.ovl
	assert_success
	assert_output --partial "skipped"
	run_commit --min-size 2M --output=json vm.ovl
	assert_success
	run python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 1, lines
o = json.loads(lines[0])
assert o["skipped"] is True, o
assert "seq" in o and "time" in o and o["size"] == 1048576, o
print("ok")' <<<"$output"
	assert_success
	assert_output ok
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	[[ ! -e base.img.history/pristine.raw ]] || fail "a skipped commit made a pristine copy"

	# Not less than SIZE: committed.
	run_commit --min-size 1M vm.ovl
	assert_success
	refute_output --partial "skipped"
	assert_committed vm.ovl base.img "$R/ref.raw"
	assert_clean_history base.img.history 1
}

@test "--min-size with an unparsable value is a usage error (2) and touches nothing" {
	pair
	put vm.ovl
	local before v
	before=$(snap .)
	for v in 1Q -1 "" 1.5.5 K 1KK; do
		run_commit --min-size "$v" vm.ovl
		assert_failure 2
		assert_equal "$(snap .)" "$before"
	done
	run_commit --min-size=-1 vm.ovl
	assert_failure 2
	assert_equal "$(snap .)" "$before"
}

@test "an empty overlay is skipped (0): nothing written, no store created" {
	pair
	local before
	before=$(snap .)
	run_commit vm.ovl
	assert_success
	assert_output --partial "skipped"
	assert_equal "$(snap .)" "$before"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
}

# ---------------------------------------------------------------------------
# --dry-run.

@test "--dry-run (and -n) prints the plan and changes nothing, first commit or later" {
	pair
	put vm.ovl
	local before
	before=$(snap .)
	run_commit --dry-run vm.ovl
	assert_success
	assert_output --partial "would commit"
	assert_equal "$(snap .)" "$before"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
	run_commit -n --tag t -m m vm.ovl
	assert_success
	assert_equal "$(snap .)" "$before"

	# With a store in place.
	run_commit vm.ovl
	assert_success
	put vm.ovl 'write -P 0x12 9M 1M'
	local base_sha ovl_sha
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	before=$(snap .)
	run_commit -n vm.ovl
	assert_success
	assert_output --partial "would commit"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_clean_history base.img.history 1
	assert_equal "$(snap .)" "$before"
}

# ---------------------------------------------------------------------------
# --no-history.

@test "--no-history: base holds the data, overlay renewed, no store" {
	pair
	put vm.ovl
	put vm.ovl 'write -P 0x31 60M 1M'
	ref vm.ovl ref.raw
	local ino
	ino=$(inode vm.ovl)
	run_commit --no-history vm.ovl
	assert_success
	assert_committed vm.ovl base.img "$R/ref.raw"
	[[ "$(inode vm.ovl)" != "$ino" ]] || fail "overlay was not replaced"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
}

@test "--no-history is refused (1) when the base has a history store; nothing changes" {
	pair
	put vm.ovl
	run_commit vm.ovl
	assert_success
	put vm.ovl 'write -P 0x44 20M 1M'
	ref vm.ovl ref.raw
	local before
	before=$(snap .)
	run_commit --no-history vm.ovl
	assert_failure 1
	assert_stderr_has history
	assert_equal "$(snap .)" "$before"
	assert_view vm.ovl "$R/ref.raw"
}

# ---------------------------------------------------------------------------
# Where the store is.

@test "--store DIR and OVL_STORE put the store there instead of BASE.history" {
	local X
	X=$(ovl_mktmp)
	pair a
	put a/vm.ovl
	ref a/vm.ovl refa.raw
	run_commit --store "$X/store-a" a/vm.ovl
	assert_success
	assert_committed a/vm.ovl a/base.img "$R/refa.raw"
	[[ -f "$X/store-a/history.db" && -f "$X/store-a/pristine.raw" ]] ||
		fail "store-a is incomplete: $(ls -A "$X/store-a")"
	assert_equal "$(stat -c %a "$X/store-a")" 700
	assert_archive "$X/store-a" 1 "$X/store-a/pristine.raw" "$R/refa.raw"
	assert_clean_history "$X/store-a" 1
	assert_equal "$(names_in a)" "$(names_list base.img vm.ovl)"

	pair b
	put b/vm.ovl 'write -P 0x99 5M 3M'
	ref b/vm.ovl refb.raw
	OVL_STORE="$X/store-b" run_commit b/vm.ovl
	assert_success
	assert_committed b/vm.ovl b/base.img "$R/refb.raw"
	[[ -f "$X/store-b/history.db" && -f "$X/store-b/pristine.raw" ]] ||
		fail "store-b is incomplete"
	assert_clean_history "$X/store-b" 1
	assert_equal "$(names_in b)" "$(names_list base.img vm.ovl)"

	# --store wins over OVL_STORE.
	put b/vm.ovl 'write -P 0x98 9M 1M'
	OVL_STORE="$X/elsewhere" run_commit --store "$X/store-b" b/vm.ovl
	assert_success
	assert_clean_history "$X/store-b" 2
	[[ ! -e "$X/elsewhere" ]] || fail "OVL_STORE was used over --store"
}

# ---------------------------------------------------------------------------
# Output.

@test "--output=json: one valid JSON object per overlay with seq, time (UTC), size, skipped" {
	pair a
	pair b
	put a/vm.ovl 'write -P 0xab 1M 2M'
	run_commit --output=json a/vm.ovl b/vm.ovl
	assert_success
	run python3 -c '
import json, re, sys
objs = [json.loads(l) for l in sys.stdin.read().splitlines()]
assert len(objs) == 2, objs
a, b = objs
for o in objs:
    for k in ("seq", "time", "size", "skipped"):
        assert k in o, (k, o)
assert a["seq"] == 1 and a["skipped"] is False and a["size"] == 2097152, a
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a["time"]), a
assert b["skipped"] is True and b["size"] == 0, b
print("ok")' <<<"$output"
	assert_success
	assert_output ok
}

@test "--output=xml is a usage error (2) and touches nothing" {
	pair
	put vm.ovl
	local before
	before=$(snap .)
	run_commit --output=xml vm.ovl
	assert_failure 2
	assert_equal "$(snap .)" "$before"
}

# ---------------------------------------------------------------------------
# Several operands.

@test "several operands: one missing, the others still committed; exit 1" {
	pair a
	pair b
	put a/vm.ovl 'write -P 0xa1 2M 1M'
	put b/vm.ovl 'write -P 0xb1 3M 1M'
	ref a/vm.ovl refa.raw
	ref b/vm.ovl refb.raw
	run_commit a/vm.ovl missing.ovl b/vm.ovl
	assert_failure 1
	assert_stderr_has missing.ovl
	assert_committed a/vm.ovl a/base.img "$R/refa.raw"
	assert_committed b/vm.ovl b/base.img "$R/refb.raw"
	assert_clean_history a/base.img.history 1
	assert_clean_history b/base.img.history 1
}

@test "several operands: one busy, the other committed; exit 3" {
	pair a
	pair b
	put a/vm.ovl 'write -P 0xa1 2M 1M'
	put b/vm.ovl 'write -P 0xb1 3M 1M'
	ref b/vm.ovl refb.raw
	start_nbd a/vm.ovl qcow2
	local sha_a
	sha_a=$(sha a/base.img)
	run_commit a/vm.ovl b/vm.ovl
	assert_failure 3
	assert_equal "$(sha a/base.img)" "$sha_a"
	assert_committed b/vm.ovl b/base.img "$R/refb.raw"
}

# ---------------------------------------------------------------------------
# A base smaller than its overlay.

@test "an overlay larger than its base: the base grows, the output says so, the sizes are logged" {
	make_base base.img 64M
	make_overlay vm.ovl base.img raw "" 128M
	put vm.ovl 'write -P 0xab 1M 1M'
	put vm.ovl 'write -P 0xcd 100M 2M'
	ref vm.ovl ref.raw
	run_commit vm.ovl
	assert_success
	assert_output --partial "grew"
	assert_equal "$(info_field base.img virtual-size raw)" 134217728
	assert_committed vm.ovl base.img "$R/ref.raw"
	assert_equal "$(info_field vm.ovl virtual-size)" 134217728
	assert_equal "$(sql base.img.history/history.db 'SELECT size_before, size_after FROM commits WHERE seq = 1')" \
		"67108864|134217728"
	assert_equal "$(sql base.img.history/history.db "SELECT value FROM meta WHERE key = 'pristine_size'")" 67108864
	assert_equal "$(stat -c %s base.img.history/pristine.raw)" 67108864
}

# ---------------------------------------------------------------------------
# One overlay per base.

@test "another overlay backed by the base in its directory: refused (1), nothing written" {
	pair
	put vm.ovl
	local name
	for name in base.img "$PWD/base.img"; do
		rm -f other.ovl
		make_overlay other.ovl "$name" raw
		local base_sha ovl_sha other_sha
		base_sha=$(sha base.img)
		ovl_sha=$(sha vm.ovl)
		other_sha=$(sha other.ovl)
		run_commit vm.ovl
		assert_failure 1
		assert_stderr_has other.ovl
		assert_equal "$(sha base.img)" "$base_sha"
		assert_equal "$(sha vm.ovl)" "$ovl_sha"
		assert_equal "$(sha other.ovl)" "$other_sha"
		[[ ! -e base.img.history/history.db ]] ||
			assert_equal "$(rows base.img.history)" 0
	done
	# Without the other overlay, the commit goes through.
	rm -f other.ovl
	ref vm.ovl ref.raw
	run_commit vm.ovl
	assert_success
	assert_committed vm.ovl base.img "$R/ref.raw"
}

@test "a different overlay on a base whose store belongs to another overlay: refused (1), nothing written" {
	pair
	put vm.ovl
	run_commit vm.ovl
	assert_success
	local D
	D=$(ovl_mktmp)
	make_overlay "$D/other.ovl" "$PWD/base.img" raw
	put "$D/other.ovl" 'write -P 0x66 7M 1M'
	local base_sha other_sha store_before
	base_sha=$(sha base.img)
	other_sha=$(sha "$D/other.ovl")
	store_before=$(snap base.img.history)
	run_commit "$D/other.ovl"
	assert_failure 1
	assert_stderr_has "one overlay per base"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha "$D/other.ovl")" "$other_sha"
	assert_equal "$(snap base.img.history)" "$store_before"
	assert_equal "$(names_in "$D")" "$(names_list other.ovl)"
}

# ---------------------------------------------------------------------------
# Busy images and store.

@test "qemu-nbd serving the overlay: busy (3), nothing written; first commit and later" {
	pair
	put vm.ovl
	start_nbd vm.ovl qcow2
	local base_sha ovl_sha
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	run_commit vm.ovl
	assert_failure 3
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	[[ ! -e base.img.history/history.db ]] || assert_equal "$(rows base.img.history)" 0
	[[ ! -e base.img.history/pristine.raw ]] || fail "a pristine copy was made for a busy overlay"
	stop_nbd

	run_commit vm.ovl
	assert_success
	put vm.ovl 'write -P 0x21 30M 1M'
	start_nbd vm.ovl qcow2
	local before
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	before=$(snap base.img.history)
	run_commit vm.ovl
	assert_failure 3
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_equal "$(snap base.img.history)" "$before"
}

@test "qemu-nbd -r serving the base: busy (3), nothing written" {
	pair
	put vm.ovl
	run_commit vm.ovl
	assert_success
	put vm.ovl 'write -P 0x21 30M 1M'
	start_nbd base.img raw ro
	local base_sha ovl_sha before
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	before=$(snap base.img.history)
	run_commit vm.ovl
	assert_failure 3
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_equal "$(snap base.img.history)" "$before"
}

@test "a paused VM running on the overlay: busy (3), nothing written" {
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
	pair
	put vm.ovl
	local base_sha ovl_sha pidf=$BATS_TEST_TMPDIR/vm.pid
	qemu-system-x86_64 -S -accel tcg -display none -nodefaults \
		-drive "file=$PWD/vm.ovl,format=qcow2,if=virtio" \
		-daemonize -pidfile "$pidf" </dev/null >/dev/null 2>&1 3>&- ||
		fail "qemu-system-x86_64 did not start"
	_track_pid "$(cat "$pidf")"
	wait_qemu_locked vm.ovl
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	run_commit vm.ovl
	assert_failure 3
	assert_stderr_has "in use"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	[[ ! -e base.img.history/pristine.raw ]] || fail "a pristine copy was made under a live VM"
}

@test "another process holding the store lock: ovl-commit waits about 10 s, then busy (3), nothing written" {
	pair
	put vm.ovl
	run_commit vm.ovl
	assert_success
	put vm.ovl 'write -P 0x21 30M 1M'
	local S=$PWD/base.img.history base_sha ovl_sha before t0 t1 k
	# A holder whose pid is the lock's owner (no child keeps the lock).
	(exec 9<"$S" && flock -x 9 && exec sleep 20) </dev/null >/dev/null 2>&1 3>&- &
	_track_pid $!
	for ((k = 0; k < 100; k++)); do
		flock -n -x "$S" true 2>/dev/null || break
		sleep 0.05
	done
	((k < 100)) || fail "the lock holder did not take the lock"
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	before=$(snap "$S")
	t0=${EPOCHREALTIME/./}
	run_commit vm.ovl
	t1=${EPOCHREALTIME/./}
	assert_failure 3
	(((t1 - t0) >= 9000000)) || fail "gave up after $(((t1 - t0) / 1000)) ms, not ~10 s"
	(((t1 - t0) < 20000000)) || fail "waited $(((t1 - t0) / 1000)) ms"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_equal "$(snap "$S")" "$before"
}

# ---------------------------------------------------------------------------
# A store that cannot take the copies.

@test "disk full: the store cannot hold the pristine copy: 1 with the cause, nothing written; works with room" {
	local M=$BATS_TEST_TMPDIR/mnt
	mount_tmpfs "$M" 8M
	pair
	# 16 MiB of data in the base: its pristine copy cannot fit in 8 MiB.
	qemu-io -f raw -c 'write -P 0x11 2M 16M' base.img >/dev/null
	put vm.ovl 'write -P 0xab 1M 2M'
	ref vm.ovl ref.raw
	local base_sha ovl_sha
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	run_commit --store "$M/store" vm.ovl
	assert_failure 1
	assert_stderr_has "No space left on device"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_view vm.ovl "$R/ref.raw"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
	if [[ -e "$M/store/history.db" ]]; then
		assert_equal "$(rows "$M/store")" 0
	fi
	# Nothing half-made is left in the store.
	if [[ -d "$M/store" ]]; then
		run names_in "$M/store"
		refute_output --partial ".ovl-tmp"
		refute_output --partial "pristine"
	fi

	mount -o remount,size=128M "$M"
	run_commit --store "$M/store" vm.ovl
	assert_success
	assert_committed vm.ovl base.img "$R/ref.raw"
	assert_clean_history "$M/store" 1
	assert_equal "$(names_in "$M/store")" "$(names_list commits history.db pristine.raw)"
}

@test "disk full: the pristine copy fits but the archived overlay does not: 1, base unchanged, no history entry; works with room" {
	local M=$BATS_TEST_TMPDIR/mnt
	mount_tmpfs "$M" 4M
	pair                                   # about 1 MiB of data in the base
	put vm.ovl 'write -P 0xab 4M 8M'       # 8 MiB: the archive copy cannot fit
	ref vm.ovl ref.raw
	local base_sha ovl_sha
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	run_commit --store "$M/store" vm.ovl
	assert_failure 1
	assert_stderr_has "No space left on device"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_view vm.ovl "$R/ref.raw"
	[[ -f "$M/store/history.db" ]] || fail "the store was not made (the test needs the pristine copy to fit)"
	assert_equal "$(rows "$M/store")" 0
	assert_equal "$(sql "$M/store/history.db" 'SELECT count(*) FROM journal')" 0
	assert_equal "$(names_in "$M/store/commits")" ""
	run names_in "$M/store"
	refute_output --partial ".ovl-tmp"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"

	mount -o remount,size=64M "$M"
	run_commit --store "$M/store" vm.ovl
	assert_success
	assert_committed vm.ovl base.img "$R/ref.raw"
	assert_clean_history "$M/store" 1
	local seq
	seq=$(sql "$M/store/history.db" 'SELECT seq FROM commits')
	assert_archive "$M/store" "$seq" "$M/store/pristine.raw" "$R/ref.raw"
	assert_equal "$(names_in "$M/store/commits")" "$(printf '%08d.qcow2' "$seq")"
}

@test "qemu-img commit fails: 1, the overlay keeps its data, the replacement made beside it is removed; the next run finishes" {
	pair
	put vm.ovl 'write -P 0xab 1M 2M'
	run_commit vm.ovl                    # the store exists: a steady-state commit
	assert_success
	put vm.ovl 'write -P 0xcd 8M 3M'
	ref vm.ovl ref.raw
	local ovl_sha ovl_ino
	ovl_sha=$(sha vm.ovl)
	ovl_ino=$(inode vm.ovl)
	use_qemu_wrapper
	QEMU_WRAP_FAIL=commit run_commit vm.ovl
	assert_failure 1
	assert_stderr_has "did not finish"
	# The new overlay was made while qemu-img committed, and thrown away.
	grep -qx create "$QEMU_LOG" || fail "no replacement overlay was made: $(cat "$QEMU_LOG")"
	assert_equal "$(names_in .)" "$(names_list base.img base.img.history vm.ovl)"
	assert_equal "$(inode vm.ovl)" "$ovl_ino"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_view vm.ovl "$R/ref.raw"

	run_commit vm.ovl
	assert_success
	assert_committed vm.ovl base.img "$R/ref.raw"
	assert_clean_history base.img.history 2
}

@test "--no-history, qemu-img commit fails: 1, the overlay keeps its data, no replacement left beside it" {
	pair
	put vm.ovl 'write -P 0xcd 8M 3M'
	ref vm.ovl ref.raw
	local ovl_sha
	ovl_sha=$(sha vm.ovl)
	use_qemu_wrapper
	QEMU_WRAP_FAIL=commit run_commit --no-history vm.ovl
	assert_failure 1
	grep -qx create "$QEMU_LOG" || fail "no replacement overlay was made: $(cat "$QEMU_LOG")"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_view vm.ovl "$R/ref.raw"
}

@test "read-only store: 1 with the cause, base and overlay unchanged" {
	local M=$BATS_TEST_TMPDIR/mnt M2=$BATS_TEST_TMPDIR/mnt2
	mount_tmpfs "$M" 128M
	pair
	put vm.ovl
	run_commit --store "$M/store" vm.ovl
	assert_success
	put vm.ovl 'write -P 0x21 30M 1M'
	ref vm.ovl ref.raw
	mount -o remount,ro "$M"
	local base_sha ovl_sha before
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	before=$(snap "$M/store")
	run_commit --store "$M/store" vm.ovl
	assert_failure 1
	local first_stderr=$stderr      # its message is checked last
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_equal "$(snap "$M/store")" "$before"
	assert_view vm.ovl "$R/ref.raw"

	# A store to be made on a read-only filesystem.
	mount_tmpfs "$M2" 128M
	mount -o remount,ro "$M2"
	pair b
	put b/vm.ovl
	base_sha=$(sha b/base.img)
	ovl_sha=$(sha b/vm.ovl)
	run_commit --store "$M2/store" b/vm.ovl
	assert_failure 1
	assert_stderr_has "Read-only file system"
	assert_equal "$(sha b/base.img)" "$base_sha"
	assert_equal "$(sha b/vm.ovl)" "$ovl_sha"

	# Writable again: the commit goes through.
	mount -o remount,rw "$M"
	run_commit --store "$M/store" vm.ovl
	assert_success
	assert_committed vm.ovl base.img "$R/ref.raw"
	assert_clean_history "$M/store" 2

	# A system error is reported with its cause (ovl.md, Exit status).
	stderr=$first_stderr
	assert_stderr_has "Read-only file system"
}

# ---------------------------------------------------------------------------
# Damaged and foreign databases.

@test "a corrupt history.db: 1 with a message; the database, base and overlay are left as they were" {
	pair
	put vm.ovl
	run_commit vm.ovl
	assert_success
	put vm.ovl 'write -P 0x21 30M 1M'
	local db=base.img.history/history.db base_sha ovl_sha db_sha before
	head -c 100 /dev/urandom | dd of="$db" bs=100 count=1 conv=notrunc status=none
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	db_sha=$(sha "$db")
	before=$(snap base.img.history)
	run_commit vm.ovl
	assert_failure 1
	assert_stderr_has history.db
	assert_equal "$(sha "$db")" "$db_sha"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_equal "$(snap base.img.history)" "$before"
}

@test "a foreign history.db (a valid sqlite database of something else): 1 with a message; left untouched" {
	command -v sqlite3 >/dev/null || fail "sqlite3 is needed (scripts/deps.sh)"
	pair
	put vm.ovl
	mkdir -m 0700 base.img.history
	sqlite3 base.img.history/history.db \
		'CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL); INSERT INTO invoices(amount) VALUES (12.5);'
	local db=base.img.history/history.db base_sha ovl_sha db_sha before
	base_sha=$(sha base.img)
	ovl_sha=$(sha vm.ovl)
	db_sha=$(sha "$db")
	before=$(snap base.img.history)
	run_commit vm.ovl
	assert_failure 1
	assert_stderr_has "not an ovl history database"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_equal "$(sha vm.ovl)" "$ovl_sha"
	assert_equal "$(sha "$db")" "$db_sha"
	assert_equal "$(snap base.img.history)" "$before"
}

# ---------------------------------------------------------------------------
# Hostile images (hostile.bats covers the chain reader in depth).

@test "hostile overlays (json: backing, external data file) are refused before anything is written" {
	pair
	head -c 1M /dev/urandom >victim
	rm -f vm.ovl
	qemu-img create -q -f qcow2 -u \
		-b "json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":\"$PWD/victim\"}}" \
		-F raw vm.ovl 64M
	put vm.ovl
	local before mode
	before=$(snap .)
	for mode in "" --no-history --dry-run; do
		run_commit $mode vm.ovl
		assert_failure 1
		assert_stderr_has vm.ovl
		assert_equal "$(snap .)" "$before"
	done

	rm -f vm.ovl
	qemu-img create -q -f qcow2 -o data_file=victim -b base.img -F raw vm.ovl
	head -c 1M /dev/urandom >victim      # host data where the data file points
	assert_equal "$(info_field vm.ovl format-specific.data.data-file)" victim
	before=$(snap .)
	for mode in "" --no-history --dry-run; do
		run_commit $mode vm.ovl
		assert_failure 1
		assert_stderr_has "data file"
		assert_equal "$(snap .)" "$before"
	done
}

# ---------------------------------------------------------------------------
# Odd names, leftovers.

@test "odd names (spaces, commas, colons) work" {
	make_base "b a,se.img" 64M
	make_overlay "v m:1,x.ovl" "./b a,se.img" raw
	put "v m:1,x.ovl"
	ref "v m:1,x.ovl" ref.raw
	run_commit -m "odd" "v m:1,x.ovl"
	assert_success
	assert_committed "v m:1,x.ovl" "b a,se.img" "$R/ref.raw"
	assert_clean_history "b a,se.img.history" 1
	assert_archive "$PWD/b a,se.img.history" 1 "$PWD/b a,se.img.history/pristine.raw" "$R/ref.raw"
	assert_equal "$(names_in .)" "$(names_list "b a,se.img" "b a,se.img.history" "v m:1,x.ovl")"
}

@test "after several commits the directories hold only base, overlay and store; the store only its own files" {
	pair
	local n
	for n in 1 2 3; do
		put vm.ovl "write -P 0x$n$n $((n * 8))M 2M"
		run_commit vm.ovl
		assert_success
		# Also a run that has nothing to do.
		run_commit vm.ovl
		assert_success
	done
	assert_equal "$(names_in .)" "$(names_list base.img base.img.history vm.ovl)"
	assert_equal "$(names_in base.img.history)" "$(names_list commits history.db pristine.raw)"
	assert_equal "$(names_in base.img.history/commits)" \
		"$(names_list 00000001.qcow2 00000002.qcow2 00000003.qcow2)"
	assert_clean_history base.img.history 3
}
