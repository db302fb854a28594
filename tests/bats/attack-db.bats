#!/usr/bin/env bats
# A damaged or tampered history.db is damage, not instructions.
#
# Each test makes a real history (three commits into a raw base), then
# changes one row of the store's database with sqlite3 -- an extent map
# out of order, a size that is not a number, a head that names nothing,
# a journal row of an unknown kind... -- and runs the ordinary tools.
# Every one of them must refuse with exit 1 and a message naming the
# database ("ovl-undo: '.../history.db': commit 3: ...: damaged history,
# nothing written"), write nothing (the base's checksum and size, the
# overlay, root's victim file unchanged), and `ovl-history verify` must
# name the problem.  Then the row is put back as it was, and the store
# must work again: nothing was wedged.

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

# ---------------------------------------------------------------------------
# Helpers of this suite.

run_undo() {
	run --separate-stderr timeout 120 ovl-undo "$@"
}

run_hist() {
	run --separate-stderr timeout 120 ovl-history "$@"
}

# A 16M raw base, its overlay vm.ovl and three commits; $R/ref-N.raw is
# state N.  Commit 3 writes two separate ranges (two extents); commit 2
# is tagged "two".
make_history() {
	BASE=base.img
	STORE=$PWD/base.img.history
	DB=$STORE/history.db
	make_base "$BASE" 16M
	make_overlay vm.ovl "$BASE" raw
	raw_ref "$BASE" raw "$R/ref-0.raw"
	commit_step 1 -- 'write -P 0x11 1M 2M'
	commit_step 2 --tag two -- 'write -P 0x22 4M 1M'
	commit_step 3 -- 'write -P 0x33 8M 1M' 'write -P 0x34 12M 512k'
	assert_equal "$(store_head "$STORE")" 3
	assert_equal "$(store_sql "$STORE" 'SELECT count FROM extent_maps WHERE seq = 3')" 2
}

# commit_step N [OVL-COMMIT OPTION...] -- QEMU-IO COMMAND...
commit_step() {
	local n=$1
	shift
	local -a opts=()
	while [[ "$1" != -- ]]; do
		opts+=("$1")
		shift
	done
	shift
	qio vm.ovl qcow2 "$@"
	ovl-commit -q "${opts[@]}" vm.ovl || fail "ovl-commit of step $n failed"
	raw_ref "$BASE" raw "$R/ref-$n.raw"
}

# db_sql SQL...: SQL on the store's database through a writable connection
# (sqlite3 reads and writes its WAL as any connection does).
db_sql() {
	sqlite3 -batch -noheader "$DB" "$@"
}

# tamper TABLE WHERE SQL: keep the rows of TABLE matching WHERE as they
# are (to put them back), then run SQL.
tamper() {
	local table=$1 where=$2 sql=$3
	SAVED=$(db_sql -cmd ".mode insert $table" "SELECT * FROM $table WHERE $where") ||
		fail "cannot read $table"
	SAVED=${SAVED//INSERT INTO/INSERT OR REPLACE INTO}
	db_sql "$sql" || fail "cannot tamper: $sql"
	SUMS=$(sums)
}

# put_back [SQL]: the rows tamper saved, as they were (and SQL first).
put_back() {
	db_sql "${1:-}${1:+;}$SAVED" || fail "cannot put the rows back"
}

# Everything a refused run must leave as it was.
sums() {
	printf '%s %s %s %s\n' "$(sha "$BASE")" "$(stat -c %s "$BASE")" "$(sha vm.ovl)" \
		"$(victim_sum | sha256sum)"
}

assert_untouched() {
	assert_equal "$(sums)" "$SUMS"
	assert_equal "$(store_sql "$STORE" 'SELECT count(*) FROM journal')" 0
}

# refused TOOL WHY ARGS...: TOOL ARGS fails with exit 1, saying the
# database is damaged and WHY, and nothing is written.
refused() {
	local tool=$1 why=$2
	shift 2
	run --separate-stderr timeout 120 "$tool" "$@"
	[[ "$status" -eq 1 ]] || fail "$tool $* exited $status (want 1): $stderr"
	[[ "$stderr" == *"$tool: '$DB': $why"*": damaged history, nothing written"* ]] ||
		fail "$tool $*: stderr does not name '$DB' and '$why': $stderr"
	assert_untouched
}

# verify_names WHY: ovl-history verify fails naming the database and WHY,
# in its human and its JSON report.
verify_names() {
	run_hist verify "$BASE"
	[[ "$status" -eq 1 ]] || fail "verify exited $status (want 1): $stderr"
	[[ "$stderr" == *"ovl-history: '$DB': $1"* ]] ||
		fail "verify does not name '$1': $stderr"
	run_hist --output=json verify "$BASE"
	[[ "$status" -eq 1 ]] || fail "verify --output=json exited $status"
	python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["sound"] is False
assert any(p["file"] == sys.argv[2] and p["problem"].startswith(sys.argv[3])
           for p in d["problems"]), d["problems"]
' "$output" "$DB" "$1" || fail "verify's JSON does not list '$1': $output"
	assert_untouched
}

# usable: after the row is put back, the store works: verify passes, and
# an undo one step back brings state 2.
usable() {
	run_hist verify "$BASE"
	[[ "$status" -eq 0 ]] || fail "verify after putting the row back: $status $stderr"
	run_undo vm.ovl
	[[ "$status" -eq 0 ]] || fail "ovl-undo after putting the row back: $status $stderr"
	assert_reads_like "$BASE" raw "$R/ref-2.raw"
	assert_equal "$(store_head "$STORE")" 2
}

# record START LENGTH OFFSET ZERO: one packed extent record, as hex.
record() {
	python3 -c '
import struct, sys
s, l, o, z = (int(a) for a in sys.argv[1:])
print(struct.pack("<QQqB", s % 2**64, l % 2**64, o, z).hex())' "$@"
}

# set_map SEQ RECORD...: commit SEQ's map is these records.
set_map() {
	local seq=$1 hex=''
	shift
	local r
	for r in "$@"; do hex+=$r; done
	tamper extent_maps "seq = $seq" \
		"UPDATE extent_maps SET map = X'$hex', count = $# WHERE seq = $seq"
}

# ---------------------------------------------------------------------------
# Extent maps.

@test "tampered db: extent map out of order" {
	make_history
	tamper extent_maps "seq = 3" \
		"UPDATE extent_maps SET map = substr(map, 26, 25) || substr(map, 1, 25) WHERE seq = 3"
	refused ovl-undo "commit 3: extent map out of order (extent 2 of 2)" vm.ovl
	refused ovl-undo "commit 3: extent map out of order" --method=replay vm.ovl
	refused ovl-history "commit 3: extent map out of order" show 3 vm.ovl
	verify_names "commit 3: extent map out of order"
	# list and prune read no maps: they still work.
	run_hist list vm.ovl
	assert_success
	put_back
	usable
}

@test "tampered db: overlapping extents" {
	make_history
	tamper extent_maps "seq = 3" \
		"UPDATE extent_maps SET map = substr(map, 1, 25) || substr(map, 1, 25) WHERE seq = 3"
	refused ovl-undo "commit 3: extent overlaps the one before" vm.ovl
	verify_names "commit 3: extent overlaps the one before"
	put_back
	usable
}

@test "tampered db: an extent past the base's virtual size" {
	make_history
	set_map 3 "$(record $((8 << 20)) $((1 << 20)) 327680 0)" \
		"$(record $((15 << 20)) $((4 << 20)) 1376256 0)"
	refused ovl-undo "commit 3: extent reaches past the image's end (extent 2 of 2)" vm.ovl
	refused ovl-history "commit 3: extent reaches past the image's end" show 3 vm.ovl
	verify_names "commit 3: extent reaches past the image's end"
	put_back
	usable
}

@test "tampered db: an extent whose start + length overflows" {
	make_history
	set_map 3 "$(record -4096 8192 327680 0)"
	refused ovl-undo "commit 3: extent's start + length overflows" vm.ovl
	verify_names "commit 3: extent's start + length overflows"
	put_back
	usable
}

@test "tampered db: a host offset past what a file can hold" {
	make_history
	set_map 3 "$(record $((8 << 20)) $((1 << 20)) $(((1 << 63) - 4096)) 0)" \
		"$(record $((12 << 20)) $((512 << 10)) 1376256 0)"
	refused ovl-undo "commit 3: extent's host offset is out of range" vm.ovl
	verify_names "commit 3: extent's host offset is out of range"
	put_back
	usable
}

@test "tampered db: an extent of length zero" {
	make_history
	set_map 3 "$(record $((8 << 20)) 0 327680 0)" \
		"$(record $((12 << 20)) $((512 << 10)) 1376256 0)"
	refused ovl-undo "commit 3: extent of length zero" vm.ovl
	verify_names "commit 3: extent of length zero"
	put_back
	usable
}

@test "tampered db: a truncated extent map" {
	make_history
	tamper extent_maps "seq = 3" "UPDATE extent_maps SET map = substr(map, 1, 30) WHERE seq = 3"
	refused ovl-undo "commit 3: extent map is truncated (30 bytes)" vm.ovl
	refused ovl-history "commit 3: extent map is truncated" show 3 vm.ovl
	verify_names "commit 3: extent map is truncated"
	put_back
	usable
}

@test "tampered db: an extent count that does not match the map" {
	make_history
	tamper extent_maps "seq = 3" "UPDATE extent_maps SET count = 7 WHERE seq = 3"
	refused ovl-undo "commit 3: extent map holds 2 extents, but says 7" vm.ovl
	verify_names "commit 3: extent map holds 2 extents, but says 7"
	put_back
	usable
}

@test "tampered db: a map that leaves out some of the commit's data" {
	make_history
	set_map 3 "$(record $((8 << 20)) $((1 << 20)) 327680 0)"
	refused ovl-undo "commit 3: extent map covers 1048576 bytes, but the data size is 1572864" vm.ovl
	verify_names "commit 3: extent map covers 1048576 bytes"
	put_back
	usable
}

@test "tampered db: a commit with data and no extent map" {
	make_history
	tamper extent_maps "seq = 2" "DELETE FROM extent_maps WHERE seq = 2"
	refused ovl-undo "commit 2: commit has data but no extent map" vm.ovl
	refused ovl-history "commit 2: commit has data but no extent map" show 2 vm.ovl
	verify_names "commit 2: commit has data but no extent map"
	put_back
	usable
}

# The map of a commit between head and target says it wrote far past the
# base's end, over ranges that overlap: undo must not write there, nor
# anywhere, nor grow or shrink the base.
@test "tampered db: undo never writes outside the base" {
	make_history
	set_map 2 "$(record $((4 << 20)) $((64 << 20)) 0 0)" \
		"$(record $((6 << 20)) $((1 << 20)) 0 0)"
	use_qemu_wrapper
	refused ovl-undo "commit 2: extent reaches past the image's end" --to 1 vm.ovl
	refused ovl-undo "commit 2: extent reaches past the image's end" --to 0 --method=replay vm.ovl
	assert_equal "$(qemu_writes)" ""
	assert_equal "$(stat -c %s "$BASE")" $((16 << 20))
	put_back
	run_undo --to 1 vm.ovl
	assert_success
	assert_reads_like "$BASE" raw "$R/ref-1.raw"
}

# ---------------------------------------------------------------------------
# Commit rows.

@test "tampered db: a size that is not a number" {
	make_history
	tamper commits "seq = 2" "UPDATE commits SET size_after = 'big' WHERE seq = 2"
	refused ovl-undo "commit 2: a size is not a number of bytes" vm.ovl
	refused ovl-history "commit 2: a size is not a number of bytes" list vm.ovl
	refused ovl-history "commit 2: a size is not a number of bytes" show 2 vm.ovl
	refused ovl-history "commit 2: a size is not a number of bytes" prune --keep-last 1 vm.ovl
	verify_names "commit 2: a size is not a number of bytes"
	put_back
	usable
}

@test "tampered db: a negative size" {
	make_history
	tamper commits "seq = 3" "UPDATE commits SET size = -1 WHERE seq = 3"
	refused ovl-undo "commit 3: a size is not a number of bytes" vm.ovl
	refused ovl-history "commit 3: a size is not a number of bytes" list vm.ovl
	verify_names "commit 3: a size is not a number of bytes"
	put_back
	usable
}

@test "tampered db: a base that shrinks in a commit" {
	make_history
	tamper commits "seq = 3" "UPDATE commits SET size_after = 4194304 WHERE seq = 3"
	refused ovl-undo "commit 3: base size after (4194304) is below the size before (16777216)" vm.ovl
	refused ovl-history "commit 3: base size after" list vm.ovl
	refused ovl-history "commit 3: base size after" show 3 vm.ovl
	verify_names "commit 3: base size after (4194304) is below the size before"
	put_back
	usable
}

@test "tampered db: a data size larger than the image" {
	make_history
	tamper commits "seq = 1" "UPDATE commits SET size = 1099511627776 WHERE seq = 1"
	refused ovl-undo "commit 1: data size (1099511627776) is larger than the image" vm.ovl
	refused ovl-history "commit 1: data size" list vm.ovl
	verify_names "commit 1: data size (1099511627776) is larger than the image"
	put_back
	usable
}

# Sizes that agree within each row, but not along the line of commits:
# state 2 would be 32M, state 3 made on a 64M base.
@test "tampered db: a commit not made on the state before it" {
	make_history
	tamper commits "seq IN (2, 3)" "UPDATE commits SET size_after = 33554432 WHERE seq = 2;
		UPDATE commits SET size_before = 67108864, size_after = 67108864 WHERE seq = 3"
	refused ovl-undo "commit 3: base size before (67108864) is not the size of state 2 (33554432)" vm.ovl
	refused ovl-history "commit 3: base size before" list vm.ovl
	verify_names "commit 3: base size before (67108864) is not the size of state 2"
	put_back
	usable
}

@test "tampered db: the pristine copy's size" {
	make_history
	tamper meta "key = 'pristine_size'" "UPDATE meta SET value = '1048576' WHERE key = 'pristine_size'"
	refused ovl-undo "commit 1: base size before (16777216) is not the size of state 0 (1048576)" vm.ovl
	verify_names "commit 1: base size before (16777216) is not the size of state 0"
	put_back
	usable
}

# Every row agrees with the next, but none with the base: the history
# says 32M, the base is 16M.  The plan would be carried out on a false
# premise (no grow before writing, a shrink after), so nothing is written.
@test "tampered db: sizes that do not describe the base" {
	make_history
	tamper commits "seq > 0" "UPDATE commits SET size_before = 33554432, size_after = 33554432;
		UPDATE meta SET value = '33554432' WHERE key = 'pristine_size'"
	SAVED+=";UPDATE meta SET value = '16777216' WHERE key = 'pristine_size'"
	refused ovl-undo "state 3 is 33554432 bytes, but '$(realpath "$BASE")' is 16777216" vm.ovl
	refused ovl-undo "state 3 is 33554432 bytes" --method=replay vm.ovl
	put_back
	usable
}

@test "tampered db: a state flag other than 0 or 1" {
	make_history
	tamper commits "seq = 2" "UPDATE commits SET abandoned = 7 WHERE seq = 2"
	refused ovl-undo "commit 2: state is neither kept nor abandoned" vm.ovl
	refused ovl-history "commit 2: state is neither kept nor abandoned" list vm.ovl
	verify_names "commit 2: state is neither kept nor abandoned"
	put_back
	usable
}

@test "tampered db: a finished commit marked unfinished" {
	make_history
	tamper commits "seq = 2" "UPDATE commits SET pending = 1 WHERE seq = 2"
	refused ovl-undo "commit 2: marked unfinished, but older than a finished commit" vm.ovl
	refused ovl-history "commit 2: marked unfinished" list vm.ovl
	verify_names "commit 2: marked unfinished, but older than a finished commit"
	put_back
	usable
}

@test "tampered db: a commit time that is not a number" {
	make_history
	tamper commits "seq = 1" "UPDATE commits SET time_us = 'yesterday' WHERE seq = 1"
	refused ovl-undo "commit 1: commit time is not a number" vm.ovl
	refused ovl-history "commit 1: commit time is not a number" list vm.ovl
	verify_names "commit 1: commit time is not a number"
	put_back
	usable
}

# Tags and messages are any bytes: text to print, not damage.
@test "tampered db: any bytes in a tag or a message are not damage" {
	make_history
	db_sql "UPDATE commits SET message = X'1b5b326aff00ff', tag = X'c3' WHERE seq = 2"
	run_hist list vm.ovl
	assert_success
	run_hist verify vm.ovl
	assert_success
	run_undo vm.ovl
	assert_success
	assert_reads_like "$BASE" raw "$R/ref-2.raw"
}

# ---------------------------------------------------------------------------
# Meta: head and oldest.

@test "tampered db: head names no commit" {
	make_history
	tamper meta "key = 'head'" "UPDATE meta SET value = '9' WHERE key = 'head'"
	refused ovl-undo "head state 9 is not a kept state" vm.ovl
	refused ovl-history "head state 9 is not a kept state" list vm.ovl
	verify_names "head state 9 is not a kept state"
	put_back
	usable
}

# A commit abandons every commit after head: a head that names nothing
# must not decide which.
@test "tampered db: ovl-commit on a head that names nothing" {
	make_history
	qio vm.ovl qcow2 'write -P 0x44 2M 64k'
	tamper meta "key = 'head'" "UPDATE meta SET value = '7' WHERE key = 'head'"
	refused ovl-commit "head state 7 is not a kept state" vm.ovl
	assert_equal "$(store_sql "$STORE" 'SELECT count(*) FROM commits')" 3
	put_back
	ovl-commit -q vm.ovl
	assert_equal "$(store_head "$STORE")" 4
	assert_equal "$(store_sql "$STORE" 'SELECT count(*) FROM commits WHERE abandoned = 1')" 0
}

@test "tampered db: head on an abandoned commit" {
	make_history
	tamper commits "seq = 2" "UPDATE commits SET abandoned = 1 WHERE seq = 2"
	SAVED+=";UPDATE meta SET value = '3' WHERE key = 'head'"
	db_sql "UPDATE meta SET value = '2' WHERE key = 'head'"
	refused ovl-undo "head state 2 is not a kept state" vm.ovl
	verify_names "head state 2 is not a kept state"
	put_back
	usable
}

@test "tampered db: head that is not a number" {
	make_history
	tamper meta "key = 'head'" "UPDATE meta SET value = '3abc' WHERE key = 'head'"
	refused ovl-undo "meta head is not a number of the store's own form" vm.ovl
	refused ovl-history "meta head is not a number" list vm.ovl
	refused ovl-history "meta head is not a number" show 2 vm.ovl
	verify_names "meta head is not a number of the store's own form"
	put_back
	usable
}

@test "tampered db: oldest after head" {
	make_history
	tamper meta "key IN ('head', 'oldest')" "UPDATE meta SET value = '2' WHERE key = 'head';
		UPDATE meta SET value = '3' WHERE key = 'oldest'"
	refused ovl-undo "oldest state 3 is after head state 2" vm.ovl
	refused ovl-history "oldest state 3 is after head state 2" list vm.ovl
	verify_names "oldest state 3 is after head state 2"
	put_back
	usable
}

# Commit 1 is still logged, but oldest says it was folded into the
# pristine copy: which one holds state 1 is unknown.
@test "tampered db: oldest past a commit still logged" {
	make_history
	tamper meta "key = 'oldest'" "UPDATE meta SET value = '1' WHERE key = 'oldest'"
	refused ovl-undo "commit 1: logged, but not after the oldest state 1" vm.ovl
	refused ovl-history "commit 1: logged, but not after the oldest state 1" prune --keep-last 1 vm.ovl
	verify_names "commit 1: logged, but not after the oldest state 1"
	put_back
	usable
}

# ---------------------------------------------------------------------------
# Journal rows: recovery runs them before anything else, so each must be
# one this ovl writes, naming what that operation can name.

# journal_row OP SEQ STEP [ARGS]: a journal row as a crash would leave it.
journal_row() {
	SAVED="DELETE FROM journal"
	db_sql "INSERT INTO journal(op, seq, step, started_us, args)
		VALUES ('$1', $2, '$3', 0, '${4:-{\}}')" || fail "cannot add a journal row"
	SUMS=$(sums)
}

# refused_journal WHY: every tool refuses, naming the row's problem, and
# leaves the row (and everything else) as it was.
refused_journal() {
	local row
	row=$(store_sql "$STORE" 'SELECT * FROM journal')
	refused_j ovl-undo "$1" vm.ovl
	refused_j ovl-history "$1" list vm.ovl
	refused_j ovl-history "$1" verify vm.ovl
	refused_j ovl-commit "$1" vm.ovl
	assert_equal "$(store_sql "$STORE" 'SELECT * FROM journal')" "$row"
}

refused_j() {
	local tool=$1 why=$2
	shift 2
	run --separate-stderr timeout 120 "$tool" "$@"
	[[ "$status" -eq 1 ]] || fail "$tool $* exited $status (want 1): $stderr"
	[[ "$stderr" == *"$tool: '$DB': $why"*": damaged history, nothing written"* ]] ||
		fail "$tool $*: stderr does not name '$DB' and '$why': $stderr"
	assert_equal "$(sums)" "$SUMS"
}

@test "tampered db: a journal row of an unknown operation" {
	make_history
	journal_row frobnicate 2 fold
	refused_journal "journal row 1 holds an operation this ovl does not know ('frobnicate')"
	put_back
	usable
}

@test "tampered db: a journal row of an unknown step" {
	make_history
	journal_row undo 2 explode '{"from":3,"method":"extents"}'
	refused_journal "journal row 1 holds an unknown undo step ('explode')"
	put_back
	usable
}

@test "tampered db: an undo journal row to a state that is not kept" {
	make_history
	journal_row undo 9 write '{"from":3,"method":"extents"}'
	refused_journal "journal row 1 undoes to state 9, which is not kept"
	put_back
	usable
}

@test "tampered db: an undo journal row from a head that is not the store's" {
	make_history
	journal_row undo 1 write '{"from":2,"method":"extents"}'
	refused_journal "journal row 1 does not say how to undo from head state 3"
	put_back
	usable
}

# Finishing commit 2 again would move head back to 2 over a base in
# state 3.
@test "tampered db: a commit journal row naming a finished commit" {
	make_history
	journal_row commit 2 renew
	refused_journal "journal row 1 names commit 2, which is not the one under way"
	put_back
	usable
}

# Prune folds only up to head: state 3 is kept, but undone.
@test "tampered db: a prune journal row past head" {
	make_history
	run_undo vm.ovl
	assert_success
	journal_row prune 3 fold
	refused_journal "journal row 1 prunes to state 3, which is not a kept state between oldest and head"
	put_back
	run_hist verify vm.ovl
	assert_success
	run_undo vm.ovl
	assert_success
	assert_reads_like "$BASE" raw "$R/ref-1.raw"
}
