#!/usr/bin/env bats
# ovl-history: list, show, tag, verify and prune the history of a base.
#
# Every history here is made for real: a 64 MiB raw base with data of its
# own, an overlay on it, and ovl-commit runs of qemu-io writes.  After each
# commit a raw copy of the base is kept ($R/ref-N.raw, state N; ref-0.raw
# is the pristine base); what prune leaves is proven with qemu-img compare
# against them, and "nothing changed" with checksums of every file of the
# store (snap) and of the base and overlay.  JSON is read with python3, the
# database with sqlite3 (read-only, immutable).
#
# Note: bats 1.8.2's `run --separate-stderr` clobbers a global `i`; no loop
# here uses `i`.

load helpers

setup() {
	ovl_setup_private_tmpdir
}

teardown() {
	ovl_teardown
}

# ---------------------------------------------------------------------------
# Helpers of this suite.

run_hist() {
	run --separate-stderr timeout 120 ovl-history "$@"
}

assert_stderr_has() {
	[[ "$stderr" == *"$1"* ]] || fail "stderr does not mention '$1': $stderr"
}

assert_stdout_has() {
	[[ "$output" == *"$1"* ]] || fail "stdout does not mention '$1': $output"
}

# commit_step N [OVL-COMMIT OPTION...]: the guest writes (what commit N
# writes is its own: 256 KiB at N MiB and 64 KiB at 40 MiB, both
# overwritten by later commits only at 40 MiB), then the overlay is
# committed; $R/ref-N.raw keeps state N.
commit_step() {
	local n=$1
	shift
	qio vm.ovl qcow2 "write -P $((0x10 + n)) ${n}M 256k" "write -P $((0x40 + n)) 40M 64k"
	ovl-commit -q "$@" vm.ovl || fail "ovl-commit of commit $n failed"
	raw_ref base.img raw "$R/ref-$n.raw"
}

# make_history N: base.img (64 MiB raw), its overlay vm.ovl and N commits.
# Commit 1 has no message; commit K > 1 has the message "commit K".
# STORE is the store.
make_history() {
	local count=$1 n
	make_base base.img 64M
	make_overlay vm.ovl base.img raw
	STORE=$PWD/base.img.history
	raw_ref base.img raw "$R/ref-0.raw"
	commit_step 1
	for ((n = 2; n <= count; n++)); do
		commit_step "$n" -m "commit $n"
	done
}

# What JSON on stdin says: the Python expression $1 on it (as d);
# strings print as they are, everything else as JSON.
json_get() {
	python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# Everything the guest's disk and its history are made of, with checksums.
everything() {
	snap "$STORE"
	printf 'base %s\noverlay %s\n' "$(sha base.img)" "$(sha vm.ovl)"
}

# The archive files in the store, by name.
archives() {
	find "$STORE/commits" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' '
}

# assert_pristine_is N: the pristine copy holds state N.
assert_pristine_is() {
	run qemu-img compare -q -f raw -F raw "$STORE/pristine.raw" "$R/ref-$1.raw"
	[[ "$status" -eq 0 ]] || fail "the pristine copy does not read like state $1 ($status)"
}

# undo_to N: ovl-undo --to N succeeds and the base reads like state N.
undo_to() {
	local n=$1
	shift
	run --separate-stderr timeout 120 ovl-undo -q "$@" --to "$n" vm.ovl
	[[ "$status" -eq 0 ]] || fail "ovl-undo --to $n exited $status: $stderr"
	assert_reads_like base.img raw "$R/ref-$n.raw"
}

# The JSON object on stdout is one line and holds exactly KEYS (sorted,
# space-separated), checked by python.
assert_json_keys() {
	[[ "${#lines[@]}" -eq 1 ]] || fail "JSON output is not one line: $output"
	local got
	got=$(json_get '" ".join(sorted(d.keys()))' <<<"$output")
	assert_equal "$got" "$1"
}

# ---------------------------------------------------------------------------
# list

@test "list: a header, the pristine line, one line per commit, the head marked" {
	make_history 3
	run_hist vm.ovl
	assert_success
	[[ -z "$stderr" ]] || fail "stderr: $stderr"
	[[ "${#lines[@]}" -eq 5 ]] || fail "not 5 lines: $output"
	[[ "${lines[0]}" =~ ^\ +SEQ\ +TIME\ +SIZE\ +STATE\ +TAG\ +MESSAGE$ ]] ||
		fail "header: '${lines[0]}'"
	[[ "${lines[1]}" =~ ^\ +0\ +pristine\ *$ ]] || fail "pristine line: '${lines[1]}'"
	local d='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}'
	[[ "${lines[2]}" =~ ^\ +1\ \ $d\ +320\ KiB\ \ applied\ *$ ]] ||
		fail "commit 1 (no message): '${lines[2]}'"
	[[ "${lines[3]}" =~ ^\ +2\ \ $d\ +320\ KiB\ \ applied\ +commit\ 2$ ]] ||
		fail "commit 2: '${lines[3]}'"
	[[ "${lines[4]}" =~ ^\*\ +3\ \ $d\ +320\ KiB\ \ applied\ +commit\ 3$ ]] ||
		fail "commit 3, the head: '${lines[4]}'"
	# The explicit subcommand says the same.
	local listed=$output
	run_hist list vm.ovl
	assert_success
	assert_equal "$output" "$listed"
}

@test "list: times are local time; JSON gives them in UTC" {
	make_history 1
	run_hist --output=json vm.ovl
	assert_success
	local utc
	utc=$(json_get 'd["commits"][0]["time"]' <<<"$output")
	TZ=UTC run_hist vm.ovl
	assert_success
	[[ "${lines[2]}" == *"$(sed -e 's/T/ /' -e 's/Z$//' <<<"$utc")"* ]] ||
		fail "TZ=UTC: '${lines[2]}' does not show $utc"
	local later
	later=$(python3 -c '
import datetime, sys
t = datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")
print((t + datetime.timedelta(hours=10)).strftime("%Y-%m-%d %H:%M:%S"))' "$utc")
	TZ=UTC-10 run_hist vm.ovl
	assert_success
	[[ "${lines[2]}" == *"$later"* ]] || fail "TZ=UTC-10: '${lines[2]}' does not show $later"
}

@test "list: undone commits after an undo, abandoned ones after a new commit" {
	make_history 4
	undo_to 2
	run_hist vm.ovl
	assert_success
	[[ "${lines[1]}" =~ ^\ +0\ +pristine ]] || fail "'${lines[1]}'"
	[[ "${lines[2]}" =~ ^\ +1\ .*\ applied\  ]] || fail "'${lines[2]}'"
	[[ "${lines[3]}" =~ ^\*\ +2\ .*\ applied\  ]] || fail "'${lines[3]}'"
	[[ "${lines[4]}" =~ ^\ +3\ .*\ undone\  ]] || fail "'${lines[4]}'"
	[[ "${lines[5]}" =~ ^\ +4\ .*\ undone\  ]] || fail "'${lines[5]}'"
	run_hist --output=json vm.ovl
	assert_success
	assert_equal "$(json_get 'd["head"]' <<<"$output")" 2
	assert_equal "$(json_get '" ".join(c["state"] for c in d["commits"])' <<<"$output")" \
		"applied applied undone undone"

	commit_step 5 -m five
	run_hist vm.ovl
	assert_success
	[[ "${#lines[@]}" -eq 7 ]] || fail "not 7 lines: $output"
	[[ "${lines[3]}" =~ ^\ +2\ .*\ applied\  ]] || fail "'${lines[3]}'"
	[[ "${lines[4]}" =~ ^\ +3\ .*\ abandoned\  ]] || fail "'${lines[4]}'"
	[[ "${lines[5]}" =~ ^\ +4\ .*\ abandoned\  ]] || fail "'${lines[5]}'"
	[[ "${lines[6]}" =~ ^\*\ +5\ .*\ applied\ +five$ ]] || fail "'${lines[6]}'"
	run_hist --output=json vm.ovl
	assert_success
	assert_equal "$(json_get 'd["head"]' <<<"$output")" 5
	assert_equal "$(json_get '" ".join(c["state"] for c in d["commits"])' <<<"$output")" \
		"applied applied abandoned abandoned applied"
}

@test "list --output=json: base, store, head and the commits, exactly as the brief says" {
	make_history 3
	run_hist --output=json vm.ovl
	assert_success
	[[ -z "$stderr" ]] || fail "stderr: $stderr"
	[[ "${#lines[@]}" -eq 1 ]] || fail "not one line: $output"
	run python3 -c '
import datetime, json, os, re, sys
d = json.loads(sys.argv[1])
base, store = sys.argv[2], sys.argv[3]
problems = []
def want(cond, what):
    if not cond:
        problems.append(what)
for k in ("base", "store", "head", "commits"):
    want(k in d, "no key %s" % k)
want(d.get("base") == base, "base %r, not %r" % (d.get("base"), base))
want(d.get("store") == store, "store %r, not %r" % (d.get("store"), store))
want(type(d.get("head")) is int and d["head"] == 3, "head %r" % d.get("head"))
cs = d.get("commits", [])
want(isinstance(cs, list) and len(cs) == 3, "commits: %r" % cs)
now = datetime.datetime.now(datetime.timezone.utc)
for n, c in enumerate(cs, 1):
    want(set(c) == {"seq", "time", "message", "tag", "size", "state"},
         "commit %d has keys %s" % (n, sorted(c)))
    want(type(c.get("seq")) is int and c["seq"] == n, "seq %r" % c.get("seq"))
    t = c.get("time")
    ok = isinstance(t, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t)
    want(ok, "time %r is not ISO 8601 UTC ending in Z" % t)
    if ok:
        when = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        want(abs((now - when).total_seconds()) < 600, "time %s is not now" % t)
    want(c.get("message") == (None if n == 1 else "commit %d" % n),
         "message %r" % c.get("message"))
    want(c.get("tag", "absent") is None, "tag %r" % c.get("tag", "absent"))
    want(type(c.get("size")) is int and c["size"] == 327680, "size %r" % c.get("size"))
    want(c.get("state") == "applied", "state %r" % c.get("state"))
if problems:
    print("\n".join(problems))
    sys.exit(1)
' "$output" "$(realpath base.img)" "$(realpath "$STORE")"
	[[ "$status" -eq 0 ]] || fail "$output"
}

@test "list: the overlay or the base, by any path, gives the same history" {
	make_history 2
	run_hist --output=json vm.ovl
	assert_success
	local want=$output
	local p
	for p in base.img ./base.img "$PWD/base.img" "$PWD/vm.ovl" ../"$(basename "$PWD")"/vm.ovl; do
		run_hist --output=json "$p"
		assert_success
		assert_equal "$output" "$want"
	done
	run_hist --output=json --store "$STORE" vm.ovl
	assert_success
	assert_equal "$output" "$want"
}

@test "list: a message with a newline stays on one line, escaped; JSON has it as is" {
	make_base base.img 64M
	make_overlay vm.ovl base.img raw
	STORE=$PWD/base.img.history
	qio vm.ovl qcow2 'write -P 0x11 1M 64k'
	ovl-commit -q -m $'two\nlines' --tag $'t\tab' vm.ovl
	run_hist vm.ovl
	assert_success
	[[ "${#lines[@]}" -eq 3 ]] || fail "not 3 lines: $output"
	[[ "${lines[2]}" == *'t\tab  two\nlines' ]] || fail "'${lines[2]}'"
	run_hist --output=json vm.ovl
	assert_success
	assert_equal "$(json_get 'repr(d["commits"][0]["message"])' <<<"$output")" "'two\\nlines'"
	assert_equal "$(json_get 'repr(d["commits"][0]["tag"])' <<<"$output")" "'t\\tab'"
}

@test "list output piped to head -1 ends cleanly" {
	make_history 1
	# A long history (straight into the database): far more output than
	# a pipe holds.
	sqlite3 "$STORE/history.db" "
		WITH RECURSIVE n(k) AS (SELECT 2 UNION ALL SELECT k + 1 FROM n WHERE k < 5000)
		INSERT INTO commits (seq, time_us, message, tag, size, file, digest,
		                     size_before, size_after, abandoned, pending)
		SELECT k, time_us + k, 'row ' || k, NULL, size, file, digest,
		       size_before, size_after, 0, 0 FROM commits, n WHERE seq = 1"
	local fmt
	for fmt in human json; do
		run --separate-stderr bash -c \
			'ovl-history --output="$1" vm.ovl | head -1; exit "${PIPESTATUS[0]}"' _ "$fmt"
		[[ "$status" -eq 0 || "$status" -eq 141 ]] ||
			fail "--output=$fmt | head -1: exit status $status"
		[[ -z "$stderr" ]] || fail "--output=$fmt | head -1: stderr: $stderr"
		[[ "${#lines[@]}" -eq 1 ]] || fail "--output=$fmt | head -1 printed: $output"
	done
	run_hist vm.ovl
	assert_success
	[[ "${#lines[@]}" -eq 5002 ]] || fail "${#lines[@]} lines"
}

# ---------------------------------------------------------------------------
# show

@test "show N: the commit in full" {
	make_history 3
	local digest extents
	digest=$(store_sql "$STORE" "SELECT digest FROM commits WHERE seq = 2")
	extents=$(store_sql "$STORE" "SELECT count FROM extent_maps WHERE seq = 2")
	run_hist show 2 vm.ovl
	assert_success
	[[ -z "$stderr" ]] || fail "stderr: $stderr"
	assert_equal "${lines[0]}" "commit 2"
	assert_output --regexp $'\n  state: +applied\n'
	assert_output --regexp $'\n  time: +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} \\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\\)\n'
	assert_output --regexp $'\n  message: +commit 2\n'
	assert_output --regexp $'\n  tag: *\n'
	assert_output --regexp $'\n  size: +320 KiB \\(327680 bytes of data\\)\n'
	assert_output --partial "archive:    $STORE/commits/00000002.qcow2"
	assert_output --partial "digest:     $digest"
	[[ "$digest" =~ ^zxxh128:[0-9a-f]{32}$ ]] || fail "digest in the log: $digest"
	assert_output --regexp $'\n  extents: +'"$extents"$'\n'
	assert_output --partial "base size:  64 MiB before, 64 MiB after"
	run_hist show 3 vm.ovl
	assert_success
	assert_equal "${lines[0]}" "commit 3 (head)"
}

@test "show N --output=json: the list fields and the rest" {
	make_history 3
	local digest extents
	digest=$(store_sql "$STORE" "SELECT digest FROM commits WHERE seq = 2")
	extents=$(store_sql "$STORE" "SELECT count FROM extent_maps WHERE seq = 2")
	run_hist --output=json show 2 base.img
	assert_success
	assert_json_keys "archive base_size_after base_size_before digest extents head message seq size state tag time"
	assert_equal "$(json_get 'd["seq"]' <<<"$output")" 2
	assert_equal "$(json_get 'd["message"]' <<<"$output")" "commit 2"
	assert_equal "$(json_get 'd["tag"]' <<<"$output")" null
	assert_equal "$(json_get 'd["size"]' <<<"$output")" 327680
	assert_equal "$(json_get 'd["state"]' <<<"$output")" applied
	assert_equal "$(json_get 'd["head"]' <<<"$output")" false
	assert_equal "$(json_get 'd["archive"]' <<<"$output")" "$(realpath "$STORE")/commits/00000002.qcow2"
	assert_equal "$(json_get 'd["digest"]' <<<"$output")" "$digest"
	assert_equal "$(json_get 'd["extents"]' <<<"$output")" "$extents"
	assert_equal "$(json_get 'd["base_size_before"]' <<<"$output")" 67108864
	assert_equal "$(json_get 'd["base_size_after"]' <<<"$output")" 67108864
	# The same commit as list has it.
	local shown=$output
	run_hist --output=json vm.ovl
	assert_success
	assert_equal "$(json_get 'json.dumps(d["commits"][1], sort_keys=True)' <<<"$output")" \
		"$(json_get 'json.dumps({k: d[k] for k in ("seq","time","message","tag","size","state")}, sort_keys=True)' <<<"$shown")"
	run_hist --output=json show 3 vm.ovl
	assert_success
	assert_equal "$(json_get 'd["head"]' <<<"$output")" true
}

@test "show of an unknown N exits 1; an unparsable N is a usage error" {
	make_history 2
	run_hist show 9 vm.ovl
	assert_failure 1
	assert_output ""
	assert_stderr_has "no commit 9"
	run_hist --output=json show 9 vm.ovl
	assert_failure 1
	assert_output ""
	run_hist show 0 vm.ovl
	assert_failure 1
	local bad
	for bad in x 1x -- 1.0 "" " 1"; do
		run_hist show "$bad" vm.ovl
		assert_failure 2
	done
}

@test "show 0 names no commit, and does not call it pruned when nothing was" {
	make_history 1
	run_hist show 0 vm.ovl
	assert_failure 1
	assert_stderr_has "no commit 0"
	[[ "$stderr" != *pruned* ]] || fail "nothing was pruned: $stderr"
}

# ---------------------------------------------------------------------------
# tag

@test "tag N NAME: list and show have it; re-tagging the same commit replaces it" {
	make_history 3
	run_hist tag 2 golden vm.ovl
	assert_success
	assert_output ""
	run_hist vm.ovl
	assert_success
	[[ "${lines[3]}" =~ ^\ +2\ .*\ applied\ +golden\ +commit\ 2$ ]] || fail "'${lines[3]}'"
	run_hist --output=json vm.ovl
	assert_equal "$(json_get '[c["tag"] for c in d["commits"]]' <<<"$output")" '[null, "golden", null]'
	run_hist --output=json show 2 vm.ovl
	assert_equal "$(json_get 'd["tag"]' <<<"$output")" golden
	# Again on the same commit: nothing to refuse.
	run_hist tag 2 golden base.img
	assert_success
	# Another tag on the same commit replaces the first.
	run_hist tag 2 silver vm.ovl
	assert_success
	run_hist --output=json vm.ovl
	assert_equal "$(json_get '[c["tag"] for c in d["commits"]]' <<<"$output")" '[null, "silver", null]'
	# The tag names the state for ovl-undo.
	run --separate-stderr timeout 120 ovl-undo -q --tag silver vm.ovl
	assert_success
	assert_reads_like base.img raw "$R/ref-2.raw"
}

@test "tag: a tag on another commit is refused (1) and nothing changes" {
	make_history 3
	run_hist tag 1 golden vm.ovl
	assert_success
	local before db
	before=$(everything)
	db=$(sha "$STORE/history.db")
	run_hist tag 3 golden vm.ovl
	assert_failure 1
	assert_output ""
	assert_stderr_has golden
	assert_stderr_has "commit 1"
	assert_equal "$(sha "$STORE/history.db")" "$db"
	assert_equal "$(everything)" "$before"
	run_hist --output=json vm.ovl
	assert_equal "$(json_get '[c["tag"] for c in d["commits"]]' <<<"$output")" '["golden", null, null]'
}

@test "tag: an unknown N exits 1, an empty NAME or missing operands exit 2; nothing changes" {
	make_history 2
	local before
	before=$(everything)
	run_hist tag 9 x vm.ovl
	assert_failure 1
	assert_stderr_has "no commit 9"
	run_hist tag 1 "" vm.ovl
	assert_failure 2
	assert_stderr_has "--help"
	run_hist tag 1 vm.ovl
	assert_failure 2
	run_hist tag x name vm.ovl
	assert_failure 2
	run_hist tag 1 a b vm.ovl
	assert_failure 2
	# A dry run says what it would do.
	run_hist -n tag 1 newname vm.ovl
	assert_success
	assert_output --partial newname
	assert_equal "$(everything)" "$before"
}

# ---------------------------------------------------------------------------
# verify

@test "verify: a sound store passes; verify, list and show change nothing" {
	make_history 3
	undo_to 2
	local before
	before=$(everything)
	run_hist verify vm.ovl
	assert_success
	[[ -z "$stderr" ]] || fail "stderr: $stderr"
	assert_output --partial "is sound"
	run_hist --output=json verify base.img
	assert_success
	assert_json_keys "checked problems sound store"
	assert_equal "$(json_get 'd["sound"]' <<<"$output")" true
	assert_equal "$(json_get 'd["checked"]' <<<"$output")" 4
	assert_equal "$(json_get 'd["problems"]' <<<"$output")" "[]"
	assert_equal "$(json_get 'd["store"]' <<<"$output")" "$(realpath "$STORE")"
	run_hist vm.ovl
	assert_success
	run_hist --output=json list vm.ovl
	assert_success
	run_hist show 1 vm.ovl
	assert_success
	run_hist --output=json show 3 vm.ovl
	assert_success
	run_hist -q verify vm.ovl
	assert_success
	assert_output ""
	assert_equal "$(everything)" "$before"
}

@test "verify: a flipped byte in an archive's data exits 1 naming the archive" {
	make_history 3
	local off
	# Where qemu itself says the archive keeps data (backing not opened).
	off=$(qemu-img map -U --output=json --image-opts \
		"driver=qcow2,file.driver=file,file.filename=$STORE/commits/00000001.qcow2,backing=" 2>/dev/null |
		python3 -c 'import json,sys; print(next(e["offset"] for e in json.load(sys.stdin) if e.get("data") and "offset" in e))')
	[[ "$off" =~ ^[0-9]+$ ]] || fail "no data offset for commit 1: '$off'"
	python3 - "$STORE/commits/00000001.qcow2" "$((off + 1000))" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))
EOF
	local before
	before=$(everything)
	run_hist verify vm.ovl
	assert_failure 1
	assert_stderr_has "$STORE/commits/00000001.qcow2"
	assert_output --partial "1 problem"
	run_hist --output=json verify vm.ovl
	assert_failure 1
	assert_equal "$(json_get 'd["sound"]' <<<"$output")" false
	assert_equal "$(json_get 'len(d["problems"])' <<<"$output")" 1
	assert_equal "$(json_get 'd["problems"][0]["file"]' <<<"$output")" \
		"$(realpath "$STORE")/commits/00000001.qcow2"
	[[ -n "$(json_get 'd["problems"][0]["problem"]' <<<"$output")" ]] || fail "no problem text"
	assert_equal "$(everything)" "$before"
}

@test "verify: a digest of another kind is reported as such, not as damage" {
	make_history 2
	sqlite3 "$STORE/history.db" "UPDATE commits SET digest = 'zsha256:' || printf('%064d', 0) WHERE seq = 2"
	run_hist verify vm.ovl
	assert_failure 1
	assert_stderr_has "$STORE/commits/00000002.qcow2"
	assert_stderr_has "digest of another kind (zsha256)"
	assert_output --partial "1 problem"
}

@test "verify: a missing archive exits 1 naming it" {
	make_history 3
	mv "$STORE/commits/00000002.qcow2" "$R/"
	run_hist verify vm.ovl
	assert_failure 1
	assert_stderr_has "$STORE/commits/00000002.qcow2"
	assert_stderr_has "missing"
	run_hist --output=json verify vm.ovl
	assert_failure 1
	assert_equal "$(json_get 'd["problems"][0]["file"]' <<<"$output")" \
		"$(realpath "$STORE")/commits/00000002.qcow2"
}

@test "verify: a file in commits/ that no commit names exits 1 naming it" {
	make_history 2
	echo stray >"$STORE/commits/00000099.qcow2"
	run_hist verify vm.ovl
	assert_failure 1
	assert_stderr_has "$STORE/commits/00000099.qcow2"
	[[ -e "$STORE/commits/00000099.qcow2" ]] || fail "verify removed the stray file"
}

@test "verify: a modified pristine copy exits 1 naming it" {
	make_history 2
	printf 'X' | dd of="$STORE/pristine.raw" bs=1 seek=$((5 * 1024 * 1024)) conv=notrunc status=none
	run_hist verify vm.ovl
	assert_failure 1
	assert_stderr_has "$STORE/pristine.raw"
	run_hist --output=json verify vm.ovl
	assert_failure 1
	assert_equal "$(json_get 'd["problems"][0]["file"]' <<<"$output")" \
		"$(realpath "$STORE")/pristine.raw"
}

@test "verify: every problem is reported, not just the first" {
	make_history 3
	mv "$STORE/commits/00000001.qcow2" "$R/"
	echo stray >"$STORE/commits/stray"
	printf 'X' | dd of="$STORE/pristine.raw" bs=1 seek=4096 conv=notrunc status=none
	run_hist --output=json verify vm.ovl
	assert_failure 1
	assert_equal "$(json_get 'sorted(p["file"].rsplit("/", 1)[1] for p in d["problems"])' <<<"$output")" \
		'["00000001.qcow2", "pristine.raw", "stray"]'
	run_hist verify vm.ovl
	assert_failure 1
	assert_output --partial "3 problems"
}

# ---------------------------------------------------------------------------
# prune

@test "prune --keep-last 2 of 5 folds 3 into the pristine copy; every kept state stays exact" {
	make_history 5
	local base_sha
	base_sha=$(sha base.img)
	run_hist prune --keep-last 2 vm.ovl
	assert_success
	assert_output --partial "folded 3 commits"
	assert_equal "$(sha base.img)" "$base_sha"
	assert_pristine_is 3
	assert_equal "$(archives)" "00000004.qcow2 00000005.qcow2 "
	run_hist vm.ovl
	assert_success
	[[ "${#lines[@]}" -eq 4 ]] || fail "not 4 lines: $output"
	[[ "${lines[1]}" =~ ^\ +3\ +pristine\ +\(older\ commits\ pruned\)$ ]] || fail "'${lines[1]}'"
	[[ "${lines[2]}" =~ ^\ +4\ .*\ applied\ +commit\ 4$ ]] || fail "'${lines[2]}'"
	[[ "${lines[3]}" =~ ^\*\ +5\ .*\ applied\ +commit\ 5$ ]] || fail "'${lines[3]}'"
	run_hist --output=json vm.ovl
	assert_equal "$(json_get '[c["seq"] for c in d["commits"]]' <<<"$output")" "[4, 5]"
	assert_equal "$(json_get 'd["oldest"]' <<<"$output")" 3
	assert_equal "$(json_get 'd["head"]' <<<"$output")" 5
	assert_equal "$(store_sql "$STORE" 'SELECT count(*) FROM journal')" 0
	run_hist verify vm.ovl
	assert_success
	run_hist show 2 vm.ovl
	assert_failure 1
	assert_stderr_has pruned

	# Every kept state, by both undo methods; a pruned one is refused.
	undo_to 3
	undo_to 4
	undo_to 5
	undo_to 3 --method=replay
	undo_to 4 --method=replay
	local before
	before=$(everything)
	run --separate-stderr timeout 120 ovl-undo --to 2 vm.ovl
	assert_failure 1
	assert_stderr_has pruned
	run --separate-stderr timeout 120 ovl-undo --to 0 vm.ovl
	assert_failure 1
	assert_stderr_has pruned
	assert_equal "$(everything)" "$before"

	# The same policy again: nothing more to do.
	run_hist --output=json prune --keep-last 2 vm.ovl
	assert_success
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 0
	assert_equal "$(everything)" "$before"
}

@test "prune --output=json: folded, abandoned_removed, kept, oldest, reclaimed" {
	make_history 4
	local reclaimed=0 n
	for n in 1 2 3; do
		reclaimed=$((reclaimed + $(stat -c %b "$STORE/commits/0000000$n.qcow2") * 512))
	done
	run_hist --output=json --keep-last 1 prune vm.ovl
	assert_success
	[[ -z "$stderr" ]] || fail "stderr: $stderr"
	assert_json_keys "abandoned_removed dry_run folded kept oldest reclaimed"
	assert_equal "$(json_get 'd["dry_run"]' <<<"$output")" false
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 3
	assert_equal "$(json_get 'd["abandoned_removed"]' <<<"$output")" 0
	assert_equal "$(json_get 'd["kept"]' <<<"$output")" 1
	assert_equal "$(json_get 'd["oldest"]' <<<"$output")" 3
	assert_equal "$(json_get 'd["reclaimed"]' <<<"$output")" "$reclaimed"
	assert_pristine_is 3
}

@test "prune --dry-run prints the plan and changes nothing" {
	make_history 4
	local before
	before=$(everything)
	run_hist -n prune --keep-last 1 vm.ovl
	assert_success
	assert_output --partial "would fold 3 commits"
	run_hist --dry-run --output=json prune --keep-last 1 vm.ovl
	assert_success
	assert_equal "$(json_get 'd["dry_run"]' <<<"$output")" true
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 3
	assert_equal "$(json_get 'd["oldest"]' <<<"$output")" 3
	assert_equal "$(everything)" "$before"
	assert_pristine_is 0
}

@test "prune never folds past the head: after an undo to 2 of 5, --keep-last 1 folds 1..2" {
	make_history 5
	undo_to 2
	run_hist --output=json prune --keep-last 1 vm.ovl
	assert_success
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 2
	assert_equal "$(json_get 'd["oldest"]' <<<"$output")" 2
	assert_pristine_is 2
	assert_reads_like base.img raw "$R/ref-2.raw"
	assert_equal "$(archives)" "00000003.qcow2 00000004.qcow2 00000005.qcow2 "
	run_hist vm.ovl
	assert_success
	[[ "${lines[1]}" =~ ^\*\ +2\ +pristine\ +\(older\ commits\ pruned\)$ ]] ||
		fail "the head is the pristine line: '${lines[1]}'"
	[[ "${lines[2]}" =~ ^\ +3\ .*\ undone\  ]] || fail "'${lines[2]}'"
	[[ "${lines[4]}" =~ ^\ +5\ .*\ undone\  ]] || fail "'${lines[4]}'"
	run_hist verify vm.ovl
	assert_success
	# The undone commits can still be redone, and the head reached again.
	undo_to 5
	undo_to 3
	undo_to 2
}

@test "prune removes abandoned commits and their archives" {
	make_history 3
	undo_to 1
	commit_step 4 -m four
	run_hist --output=json prune --keep-last 10 vm.ovl
	assert_success
	assert_equal "$(json_get 'd["abandoned_removed"]' <<<"$output")" 2
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 0
	assert_equal "$(json_get 'd["kept"]' <<<"$output")" 2
	assert_equal "$(archives)" "00000001.qcow2 00000004.qcow2 "
	run_hist --output=json vm.ovl
	assert_equal "$(json_get '[(c["seq"], c["state"]) for c in d["commits"]]' <<<"$output")" \
		'[[1, "applied"], [4, "applied"]]'
	assert_pristine_is 0
	run_hist verify vm.ovl
	assert_success
	undo_to 1
	undo_to 0
	undo_to 4
}

@test "prune --keep-within 1h keeps recent commits; it counts from the newest commit" {
	make_history 3
	local before
	before=$(everything)
	run_hist --output=json prune --keep-within 1h vm.ovl
	assert_success
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 0
	assert_equal "$(json_get 'd["kept"]' <<<"$output")" 3
	assert_equal "$(everything)" "$before"
	# Commits 1 and 2 made two days before 3: a day's window, counted from
	# commit 3 (not from now), keeps only 3.
	sqlite3 "$STORE/history.db" \
		"UPDATE commits SET time_us = time_us - 2 * 86400 * 1000000 WHERE seq <= 2"
	run_hist --output=json prune --keep-within 1d vm.ovl
	assert_success
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 2
	assert_pristine_is 2
	undo_to 2
	undo_to 3
}

@test "prune --keep-daily: the newest commit of each day" {
	make_history 4
	# Commits 1 and 2 on one day, 3 and 4 on the next (UTC).
	sqlite3 "$STORE/history.db" "
		UPDATE commits SET time_us = (CASE seq WHEN 1 THEN 1600000000 WHEN 2 THEN 1600003600
		    WHEN 3 THEN 1600090000 ELSE 1600093600 END) * 1000000"
	TZ=UTC run_hist -n --output=json prune --keep-daily 1 vm.ovl
	assert_success
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 3
	# Two days: 2 (the newest of the first day) is kept, so only 1 goes.
	TZ=UTC run_hist --output=json prune --keep-daily 2 vm.ovl
	assert_success
	assert_equal "$(json_get 'd["folded"]' <<<"$output")" 1
	assert_equal "$(json_get 'd["kept"]' <<<"$output")" 3
	assert_pristine_is 1
	# 3 is kept although no rule keeps it: only the oldest run folds.
	run_hist --output=json vm.ovl
	assert_equal "$(json_get '[c["seq"] for c in d["commits"]]' <<<"$output")" "[2, 3, 4]"
}

@test "prune: usage errors exit 2 and change nothing" {
	make_history 3
	local before
	before=$(everything)
	run_hist prune vm.ovl
	assert_failure 2
	assert_stderr_has "--keep"
	local -a bad=(
		"--keep-last x" "--keep-last -1" "--keep-last 1.5" "--keep-last ''"
		"--keep-hourly x" "--keep-daily 2d" "--keep-weekly ,1" "--keep-monthly 0x1"
		"--keep-within 5q" "--keep-within 5" "--keep-within ''" "--keep-within 1w"
		"--keep-within -1h" "--output=xml"
	)
	local b
	for b in "${bad[@]}"; do
		eval "run_hist prune $b vm.ovl"
		[[ "$status" -eq 2 ]] || fail "prune $b: exit status $status, not 2 ($stderr)"
	done
	# --keep-* options go with prune only.
	run_hist --keep-last 2 vm.ovl
	assert_failure 2
	run_hist --keep-last 2 list vm.ovl
	assert_failure 2
	run_hist --keep-daily 1 show 1 vm.ovl
	assert_failure 2
	run_hist --keep-within 1d verify vm.ovl
	assert_failure 2
	run_hist --keep-last 1 tag 1 x vm.ovl
	assert_failure 2
	assert_equal "$(everything)" "$before"
}

@test "prune --keep-within a DURATION too long to count is refused (2), never wrapped around" {
	# 300000 years is more microseconds than int64 holds; wrapped around it
	# becomes a short window that keeps (almost) nothing.
	make_history 3
	local before
	before=$(everything)
	run_hist --output=json prune --keep-within 300000y vm.ovl
	[[ "$status" -eq 2 ]] ||
		fail "exit status $status, not 2; output: $output $stderr"
	assert_equal "$(everything)" "$before"
}

@test "an interrupted prune is finished by the next run" {
	make_history 4
	local path=$PATH
	use_qemu_wrapper
	export QEMU_WRAP_KILL=commit
	run_hist prune --keep-last 1 vm.ovl
	unset QEMU_WRAP_KILL
	PATH=$path
	assert_failure 1
	assert_equal "$(store_sql "$STORE" 'SELECT op || " " || step FROM journal')" "prune fold"
	# The next run of any tool finishes it, a read-only subcommand too.
	run_hist vm.ovl
	assert_success
	assert_equal "$(store_sql "$STORE" 'SELECT count(*) FROM journal')" 0
	assert_pristine_is 3
	assert_equal "$(archives)" "00000004.qcow2 "
	run_hist --output=json vm.ovl
	assert_equal "$(json_get 'd["oldest"]' <<<"$output")" 3
	run_hist verify vm.ovl
	assert_success
	undo_to 3
	undo_to 4
}

@test "prune while another ovl process holds the store: busy (3), nothing changed; list still reads" {
	make_history 3
	local before k t0 t1
	(exec 9<"$STORE" && flock -x 9 && exec sleep 20) </dev/null >/dev/null 2>&1 3>&- &
	_track_pid $!
	for ((k = 0; k < 100; k++)); do
		flock -n -x "$STORE" true 2>/dev/null || break
		sleep 0.05
	done
	((k < 100)) || fail "the lock holder did not take the lock"
	before=$(everything)
	run_hist vm.ovl
	assert_success
	t0=${EPOCHREALTIME/./}
	run_hist prune --keep-last 1 vm.ovl
	t1=${EPOCHREALTIME/./}
	assert_failure 3
	(((t1 - t0) >= 9000000)) || fail "gave up after $(((t1 - t0) / 1000)) ms, not ~10 s"
	assert_equal "$(everything)" "$before"
}

# ---------------------------------------------------------------------------
# Operands, stores and databases.

@test "a subcommand without an image, or too many operands, is a usage error" {
	make_history 1
	local -a cmds=(
		"show 1" "verify" "list" "prune" "tag 1 x" "diff 1" "show" "tag 1"
		"vm.ovl base.img" "show 1 vm.ovl extra" "verify vm.ovl extra" "list vm.ovl extra"
		""
	)
	local c
	for c in "${cmds[@]}"; do
		# shellcheck disable=SC2086 # the words of c are the operands
		run_hist $c
		[[ "$status" -eq 2 ]] || fail "ovl-history $c: exit status $status, not 2"
		[[ -z "$output" ]] || fail "ovl-history $c: stdout: $output"
		[[ "$stderr" == *--help* ]] || fail "ovl-history $c: stderr: $stderr"
	done
	run_hist --keep-last 1 prune
	assert_failure 2
}

@test "a file named like a subcommand is an image when written ./NAME" {
	mkdir d
	cd d
	make_base verify 64M
	make_overlay vm.ovl verify raw
	qio vm.ovl qcow2 'write -P 0x11 1M 64k'
	ovl-commit -q -m first vm.ovl
	[[ -d verify.history ]] || fail "no store verify.history"
	run_hist ./verify
	assert_success
	[[ "${#lines[@]}" -eq 3 ]] || fail "$output"
	[[ "${lines[2]}" == *first ]] || fail "'${lines[2]}'"
	run_hist "$PWD/verify"
	assert_success
	run_hist list verify
	assert_success
	run_hist show 1 verify
	assert_success
	run_hist verify ./verify
	assert_success
	assert_output --partial "is sound"
	run_hist verify verify
	assert_success
	# Alone, the word is the subcommand, which needs an image.
	run_hist verify
	assert_failure 2
}

@test "an image with no history store exits 1 and nothing is created" {
	make_base base.img 64M
	make_overlay vm.ovl base.img raw
	qio vm.ovl qcow2 'write -P 0x11 1M 64k'
	local before
	before=$(snap .)
	local -a cmds=("list vm.ovl" "vm.ovl" "base.img" "show 1 vm.ovl" "verify vm.ovl"
		"verify base.img" "--keep-last 1 prune vm.ovl" "tag 1 x vm.ovl"
		"--output=json vm.ovl" "nonexistent.img" "verify nonexistent.img")
	local c
	for c in "${cmds[@]}"; do
		# shellcheck disable=SC2086
		run_hist $c
		[[ "$status" -eq 1 ]] || fail "ovl-history $c: exit status $status, not 1"
		[[ -n "$stderr" ]] || fail "ovl-history $c: no message"
	done
	run_hist vm.ovl
	assert_stderr_has "no history"
	assert_equal "$(snap .)" "$before"
}

@test "a base with no history store: the message says it has no history" {
	make_base base.img 64M
	make_overlay vm.ovl base.img raw
	run_hist base.img
	assert_failure 1
	assert_stderr_has "no history"
}

@test "qemu-img's message is quoted once in an error" {
	# A file that is no image: the chain cannot be read, and the tool
	# passes on what qemu-img said.
	head -c 65536 /dev/zero >junk.ovl
	run_hist junk.ovl
	assert_failure 1
	[[ -n "$stderr" ]] || fail "no message"
	run python3 -c '
import sys
for line in sys.argv[1].splitlines():
    parts = line.split("; ")
    for a, b in zip(parts, parts[1:]):
        if len(b) < len(a) and a.endswith(b):
            print("a fragment of the message is repeated: %r" % line)
            sys.exit(1)
' "$stderr"
	[[ "$status" -eq 0 ]] || fail "$output"
}

@test "an image that belongs to another store is refused (1)" {
	make_history 1
	mkdir other
	make_base other/b.img 16M
	make_overlay other/o.ovl b.img raw
	run_hist --store "$STORE" other/o.ovl
	assert_failure 1
	assert_stderr_has "neither the base nor the overlay"
	OVL_STORE=$STORE run_hist other/b.img
	assert_failure 1
}

@test "a foreign, damaged or newer history.db exits 1 and is left untouched" {
	make_history 2
	cp "$STORE/history.db" "$R/good.db"
	local kind c db
	local -a cmds=("vm.ovl" "show 1 vm.ovl" "verify vm.ovl" "--keep-last 1 prune vm.ovl"
		"tag 1 x vm.ovl" "--output=json vm.ovl")
	for kind in garbage foreign newer damaged; do
		rm -f "$STORE/history.db"
		case $kind in
		garbage)
			head -c 32768 /dev/urandom >"$STORE/history.db"
			;;
		foreign)
			sqlite3 "$STORE/history.db" \
				"CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('head', '1')"
			;;
		newer)
			cp "$R/good.db" "$STORE/history.db"
			sqlite3 "$STORE/history.db" "PRAGMA user_version = 99"
			;;
		damaged)
			# Every b-tree page but the first gets a broken header.
			cp "$R/good.db" "$STORE/history.db"
			python3 - "$STORE/history.db" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    data = f.read()
    size = int.from_bytes(data[16:18], "big")
    for off in range(size, len(data), size):
        f.seek(off)
        f.write(b"\x77" * 8)
EOF
			;;
		esac
		db=$(sha "$STORE/history.db")
		local before
		before=$(everything)
		for c in "${cmds[@]}"; do
			# shellcheck disable=SC2086
			run_hist $c
			[[ "$status" -eq 1 ]] || fail "$kind db: ovl-history $c: exit status $status, not 1"
			[[ -n "$stderr" ]] || fail "$kind db: ovl-history $c: no message"
			assert_equal "$(sha "$STORE/history.db")" "$db"
		done
		assert_equal "$(everything)" "$before"
	done
}
