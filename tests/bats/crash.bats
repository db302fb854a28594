#!/usr/bin/env bats
# Crash tests ("Nothing is lost"): kill -9 the tool at every qemu-img step,
# then check that the next run recovers and that the guest never lost a byte.
#
# qemu-img is found through PATH, so tests/bats/qemu-img-killer, installed as
# qemu-img first on PATH, sees every step.  It kills either the tool's whole
# process group (the tool is started with setsid, so that the group is the
# tool's and not ours) or the tool alone (its qemu-img children then end, or
# run on, as orphans).  Before each crash a reference of the guest view is
# taken (qemu-img convert of the overlay); after the crash and after the
# recovering run, `qemu-img compare` proves the guest view unchanged, and
# after recovery the base alone must hold it, the overlay must be empty and
# the history consistent (no journal, no pending commit, every commit's
# archive present with its logged digest, no archive without a commit, and
# the archives replayed onto the pristine copy give the base).
#
# Each @test runs one matrix (phase x mode) over every K; a failure names
# the K, the mode, the assertion and dumps the files and the database.

load helpers

KILLER="$BATS_TEST_DIRNAME/qemu-img-killer"

setup() {
	ovl_setup
	command -v sqlite3 >/dev/null || skip "no sqlite3 command"
	command -v setsid >/dev/null || skip "no setsid command"
	KBIN="$BATS_TEST_TMPDIR/killer-bin"
	mkdir -p "$KBIN"
	ln -sf "$KILLER" "$KBIN/qemu-img"
	SIDS_FILE="$BATS_TEST_TMPDIR/.crash-sids"
	: >"$SIDS_FILE"
	CK_SIZE=small
	FAILURES=()
}

teardown() {
	kill_crashed_sessions
	ovl_teardown
}

# ---------------------------------------------------------------------------
# Scenarios.  Each case has its own directory $C: $C/vm holds the base, the
# overlay and (with history) the store; $C/ref the references.

BIG=256M

ck_base() {
	local b=$C/vm/base.img
	if [[ $CK_SIZE == big ]]; then
		qemu-img create -q -f raw "$b" $BIG &&
			qemu-io -f raw -c 'write -P 0x5a 0 8M' -c 'write -P 0x33 100M 20M' \
				-c 'write -P 0xa5 248M 8M' "$b" >/dev/null
	else
		qemu-img create -q -f raw "$b" 64M &&
			qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0x33 8M 2M' \
				-c 'write -P 0xa5 63M 1M' "$b" >/dev/null
	fi
}

# ck_write 1|2: what the guest writes before the first / second commit:
# data at several offsets, over base data and over committed data, partial
# clusters, the last cluster, and zero-writes that hide data below.
ck_write() {
	local -a c
	case $CK_SIZE$1 in
	small1) c=('write -P 0x11 0 64k' 'write -P 0x12 512k 1M' 'write -z 8M 512k'
		'write -P 0x13 20M 3M' 'write -P 0x14 67043328 64k' 'write -P 0x15 33M 4k') ;;
	small2) c=('write -P 0x21 32k 64k' 'write -z 20M 1M' 'write -P 0x22 8448k 64k'
		'write -P 0x23 40M 2M' 'write -z 63M 64k') ;;
	big1) c=('write -P 0x41 0 48M' 'write -z 64M 16M' 'write -P 0x42 128M 48M'
		'write -z 100M 4M') ;;
	big2) c=('write -P 0x51 16M 48M' 'write -z 140M 8M' 'write -P 0x52 200M 40M') ;;
	esac
	local -a args=()
	local x
	for x in "${c[@]}"; do args+=(-c "$x"); done
	qemu-io -f qcow2 "${args[@]}" "$C/vm/vm.ovl" >/dev/null
}

ck_db() {
	sqlite3 -batch "$C/vm/base.img.history/history.db" "$@"
}

# prepare_case PHASE [KIND]: a fresh case.  PHASE 1: the first commit is to
# come (the store does not exist); PHASE 2: one commit was made, new data
# waits for the second.  KIND: history (default), plain (--no-history) or
# renew (an empty overlay, for ovl-renew).
prepare_case() {
	local phase=$1 kind=${2:-history}
	C=$(mktemp -d "$T/case.XXXXXX")
	CASE_PHASE=$phase
	CASE_KIND=$kind
	mkdir "$C/vm" "$C/ref" || return 1
	ck_base || return 1
	cp --sparse=always "$C/vm/base.img" "$C/ref/base0.raw" || return 1
	qemu-img create -q -f qcow2 -b base.img -F raw "$C/vm/vm.ovl" || return 1
	chmod 640 "$C/vm/vm.ovl"
	if [[ $kind != renew ]]; then
		ck_write 1 || return 1
	fi
	if ((phase == 2)); then
		ovl-commit -q "$C/vm/vm.ovl" || return 1
		ck_write 2 || return 1
		ck_db "SELECT seq, file, digest FROM commits ORDER BY seq" >"$C/ref/rows.before" ||
			return 1
	fi
	cp --sparse=always "$C/vm/base.img" "$C/ref/base.before.raw" &&
		qemu-img convert -f qcow2 -O raw "$C/vm/vm.ovl" "$C/ref/guest.raw"
}

# The tool's command line for this case's kind.
case_cmd() {
	case $CASE_KIND in
	history) echo ovl-commit ;;
	plain) echo ovl-commit --no-history ;;
	renew) echo ovl-renew ;;
	esac
}

# ---------------------------------------------------------------------------
# Running the tool under the killer.

# run_killed [VAR=VALUE...] -- TOOL ARGS...: the tool in its own session
# and process group, with the killer first on PATH, configured by the VARs.
# Sets CRASH_STATUS and CRASH_SID (the session of the killed tool, empty
# when nothing was killed).
run_killed() {
	local -a vars=()
	while [[ $1 != -- ]]; do
		vars+=("$1")
		shift
	done
	shift
	: >"$C/log"
	rm -f "$C/count" "$C/count.killed"
	CRASH_STATUS=0
	env LOG_FILE="$C/log" COUNT_FILE="$C/count" REAL_QEMU_IMG="$REAL_QEMU_IMG" \
		PATH="$KBIN:$PATH" "${vars[@]}" \
		timeout 120 setsid -w "$@" >"$C/crash.out" 2>"$C/crash.err" </dev/null ||
		CRASH_STATUS=$?
	CRASH_SID=$(awk '$2 == "KILL" { print $4; exit }' "$C/log")
	if [[ -n "$CRASH_SID" ]]; then
		printf '%s\n' "$CRASH_SID" >>"$SIDS_FILE"
	fi
}

# Processes of session SID still running (zombies do not count).
session_alive() {
	ps -s "$1" -o stat= 2>/dev/null | grep -qv '^Z'
}

# Wait (up to 60 s) for the orphans of the killed tool to end.
wait_orphans() {
	local i
	[[ -n "${CRASH_SID:-}" ]] || return 0
	for ((i = 0; i < 600; i++)); do
		session_alive "$CRASH_SID" || return 0
		sleep 0.1
	done
	return 1
}

# The subcommands of the qemu-img calls in $C/log, on one line.
logged_calls() {
	awk '$2 != "KILL" && $2 != "REFUSED" && $2 != "NOTE" { printf "%s%s", s, $2; s = " " }
		END { print "" }' "$C/log"
}

# count_calls PHASE KIND: prepare a case and run the tool once with the
# killer only logging.  Sets NCALLS and CALLS (the subcommands).
count_calls() {
	prepare_case "$1" "$2" || fail "cannot prepare the $2 case (phase $1)"
	# shellcheck disable=SC2046
	run_killed -- $(case_cmd) "$C/vm/vm.ovl"
	((CRASH_STATUS == 0)) ||
		fail "the tool failed with the logging wrapper (exit $CRASH_STATUS): $(cat "$C/crash.err")"
	CALLS=$(logged_calls)
	NCALLS=$(wc -w <<<"$CALLS")
	((NCALLS > 0)) || fail "the wrapper saw no qemu-img call"
	echo "# $2 phase $1: $NCALLS qemu-img calls: $CALLS" >&3
}

# The subcommand of call K in this case's killer log.  (Calls may overlap:
# the tool runs some queries side by side, so their order may vary.)
call_at() {
	awk -v k="$1" '$1 == k && $2 != "KILL" && $2 != "NOTE" && $2 != "REFUSED" { print $2; exit }' \
		"$C/log"
}

# The 1-based index of the first call SUB in CALLS.
call_index() {
	local i=0 w
	for w in $CALLS; do
		i=$((i + 1))
		[[ $w == "$1" ]] && {
			echo "$i"
			return 0
		}
	done
	return 1
}

# ---------------------------------------------------------------------------
# Assertions.  Each check appends what is wrong to $C/why and returns 1 if
# anything has been found wrong in this case so far.

why() {
	printf '%s\n' "$*" >>"$C/why"
	return 1
}

# Nothing found wrong so far.
ok() {
	[[ ! -s "$C/why" ]]
}

# zxxh128 FILE...: the store's digest of each file, one a line, computed
# here independently (see src/lib/digest.h: XXH3-128 over the 4 KiB blocks
# that are not all zeros, each preceded by its offset, then the file size;
# holes read as zeros).  Debian's python3-xxhash lives in /usr/bin/python3.
zxxh128() {
	/usr/bin/python3 - "$@" <<'EOF'
import os, struct, sys, xxhash
Z = bytes(1 << 20)
for path in sys.argv[1:]:
    h = xxhash.xxh3_128()
    with open(path, 'rb') as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                off = os.lseek(fd, off, os.SEEK_DATA) & ~4095
            except OSError:
                break
            try:
                end = os.lseek(fd, off, os.SEEK_HOLE)
            except OSError:
                end = size
            while off < end:
                b = os.pread(fd, min(1 << 20, end - off), off)
                if not b:
                    break
                if b != Z[:len(b)]:
                    for i in range(0, len(b), 4096):
                        blk = b[i:i + 4096]
                        if blk != Z[:len(blk)]:
                            h.update(struct.pack('<Q', off + i))
                            h.update(blk)
                off += len(b)
    h.update(struct.pack('<Q', size))
    print('zxxh128:' + h.hexdigest())
EOF
}

# The guest view (overlay over base) is the reference.
check_guest_view() {
	local rc=0
	qemu-img compare -q -f qcow2 -F raw "$C/vm/vm.ovl" "$C/ref/guest.raw" || rc=$?
	((rc == 0)) || why "$1: the guest view (overlay over base) differs from the" \
		"reference (qemu-img compare exit $rc)"
	ok
}

# The overlay is a clean, empty qcow2 on base.img (raw), as it was made.
check_overlay_renewed() {
	local vm=$C/vm props want
	qemu-img check -q -f qcow2 "$vm/vm.ovl" || why "the overlay fails qemu-img check"
	# Its properties, and the bytes allocated in it (zero clusters too).
	props=$(python3 - "$vm/vm.ovl" <<'EOF'
import json, os, subprocess, sys
path = os.path.abspath(sys.argv[1])
info = json.loads(subprocess.check_output(
    ['qemu-img', 'info', '-U', '--output=json', '-f', 'qcow2', path]))
opts = 'driver=qcow2,file.driver=file,file.filename=%s,backing=' % path.replace(',', ',,')
ext = json.loads(subprocess.check_output(
    ['qemu-img', 'map', '-U', '--output=json', '--image-opts', opts]))
print(info.get('format'), info.get('virtual-size'), info.get('backing-filename'),
      info.get('backing-filename-format'),
      info.get('format-specific', {}).get('data', {}).get('data-file'),
      sum(e['length'] for e in ext if e['depth'] == 0 and e['present']))
EOF
	)
	want="qcow2 $(stat -c %s "$C/ref/base0.raw") base.img raw None 0"
	[[ "$props" == "$want" ]] ||
		why "the renewed overlay is not an empty one like the old one:" \
			"format, size, backing, backing format, data file, bytes allocated:" \
			"$props; expected $want"
	[[ $(stat -c %a "$vm/vm.ovl") == 640 ]] ||
		why "the renewed overlay has mode $(stat -c %a "$vm/vm.ovl"), not 640"
	ok
}

# No temporary file anywhere, and nothing but the overlay, the base (and
# the store) in the overlay's directory.
check_no_leftovers() {
	local vm=$C/vm left want
	left=$(find "$vm" -name '.ovl-tmp-*' -printf '%P\n')
	[[ -z "$left" ]] || why "temporary files left: $left"
	if [[ $CASE_KIND == history ]]; then
		want=$(names_list base.img base.img.history vm.ovl)
	else
		want=$(names_list base.img vm.ovl)
	fi
	[[ "$(names_in "$vm")" == "$want" ]] ||
		why "the overlay's directory holds more than the overlay, base and store:" \
			"$(names_in "$vm" | tr '\n' ' ')"
	ok
}

# Replay the archived overlays onto a copy of the pristine base, in order:
# the result must be the base.
check_replay() {
	local st=$1 pristine=$2 r=$C/replay seq file
	rm -rf "$r"
	mkdir "$r"
	cp --sparse=always "$st/$pristine" "$r/base" || why "cannot copy the pristine base"
	while IFS='|' read -r seq file; do
		cp "$st/$file" "$r/top.qcow2" || why "cannot copy archive $file"
		qemu-img commit -q -d --image-opts "driver=qcow2,file.driver=file,file.filename=$r/top.qcow2,backing.driver=raw,backing.file.driver=file,backing.file.filename=$r/base" ||
			why "replaying commit $seq failed"
	done < <(ck_db "SELECT seq, file FROM commits WHERE pending = 0 AND abandoned = 0 ORDER BY seq")
	qemu-img compare -q -f raw -F raw "$r/base" "$C/vm/base.img" ||
		why "the pristine base plus the archived overlays replayed is not the base"
	rm -rf "$r"
	ok
}

check_history() {
	local st=$C/vm/base.img.history rows last seq file digest files want left n
	local -A db=()
	local key value
	[[ -f "$st/history.db" ]] || why "no history.db in the store" || return 1
	while IFS='|' read -r key value; do
		db[$key]=$value
	done < <(ck_db "SELECT 'journal', count(*) FROM journal;
		SELECT 'journal_rows', group_concat(id || ':' || op || ':' || seq || ':' || step, ' ') FROM journal;
		SELECT 'pending', count(*) FROM commits WHERE pending = 1;
		SELECT 'abandoned', count(*) FROM commits WHERE abandoned = 1;
		SELECT 'sequence', seq FROM sqlite_sequence WHERE name = 'commits';
		SELECT key, value FROM meta WHERE key IN ('head', 'pristine', 'pristine_digest');")
	[[ ${db[journal]:-} == 0 ]] ||
		why "${db[journal]:-?} journal entries remain: ${db[journal_rows]:-}"
	[[ ${db[pending]:-} == 0 ]] || why "${db[pending]:-?} commits still pending"
	[[ ${db[abandoned]:-} == 0 ]] || why "${db[abandoned]:-?} commits abandoned"
	rows=$(ck_db "SELECT seq, file, digest FROM commits ORDER BY seq")
	n=$(grep -c . <<<"$rows")
	[[ $n == "$CASE_PHASE" ]] || why "$n commits logged, not $CASE_PHASE: $rows" || return 1
	if ((CASE_PHASE == 2)); then
		[[ "$(head -n 1 <<<"$rows")" == "$(head -n 1 "$C/ref/rows.before")" ]] ||
			why "commit 1 changed: was $(head -n 1 "$C/ref/rows.before")," \
				"now $(head -n 1 <<<"$rows")"
	fi
	# The counter never goes below the last commit (a rolled-back commit
	# gives its number back, nothing else does).
	last=$(tail -n 1 <<<"$rows" | cut -d '|' -f 1)
	[[ ${db[head]:-} == "$last" ]] || why "head is ${db[head]:-unset}, not $last"
	((${db[sequence]:-0} >= last)) ||
		why "sqlite_sequence (${db[sequence]:-unset}) is below the last commit ($last)"
	# Every logged commit has its archive, intact; no archive is unlogged.
	files=$(cd "$st/commits" && find . -mindepth 1 -printf 'commits/%P\n' | LC_ALL=C sort)
	want=$(cut -d '|' -f 2 <<<"$rows" | LC_ALL=C sort)
	[[ "$files" == "$want" ]] ||
		why "archives in the store ($(echo $files)) are not the logged ones ($(echo $want))" ||
		return 1
	[[ -n "${db[pristine]:-}" && -f "$st/${db[pristine]}" ]] ||
		why "no pristine copy (${db[pristine]:-unset})" || return 1
	want=$(cut -d '|' -f 3 <<<"$rows"; echo "${db[pristine_digest]:-}")
	# shellcheck disable=SC2046
	digest=$(zxxh128 $(cut -d '|' -f 2 <<<"$rows" | sed "s|^|$st/|") "$st/${db[pristine]}")
	[[ "$digest" == "$want" ]] ||
		why "the archives and the pristine copy do not match their logged digests:" \
			"$(echo $digest) vs $(echo $want)"
	while IFS='|' read -r seq file digest; do
		[[ $file == "commits/$(printf '%08d' "$seq").qcow2" ]] ||
			why "commit $seq has archive name $file"
		# Never through its stale header: no backing file at all.
		qemu-img check -q --image-opts "driver=qcow2,file.driver=file,file.filename=$st/$file,backing=" ||
			why "commit $seq: archive $file fails qemu-img check"
	done <<<"$rows"
	left=$(cd "$st" && find . -maxdepth 1 -mindepth 1 ! -name history.db \
		! -name 'history.db-*' ! -name commits ! -name "${db[pristine]}" -printf '%P ')
	[[ -z "$left" ]] || why "unexpected files in the store: $left"
	qemu-img compare -q -f raw -F raw "$st/${db[pristine]}" "$C/ref/base0.raw" ||
		why "the pristine copy is not the base as it was before the first commit"
	ok || return 1
	check_replay "$st" "${db[pristine]}"
}

# A further run finds nothing to do.
check_next_run_skips() {
	local out rc=0
	# shellcheck disable=SC2046
	out=$(timeout 60 $(case_cmd) --output=json "$C/vm/vm.ovl" 2>"$C/next.err") || rc=$?
	((rc == 0)) || why "a further run failed (exit $rc): $(cat "$C/next.err")"
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(0 if d.get("skipped") is True else 1)' \
		"$out" || why "a further run did not skip: $out"
	ok
}

# Everything that must hold after the recovering run.
check_recovered() {
	check_guest_view "after recovery" || return 1
	qemu-img compare -q -f raw -F raw "$C/vm/base.img" "$C/ref/guest.raw" ||
		why "after recovery the base alone does not hold the guest view"
	check_overlay_renewed || return 1
	check_no_leftovers || return 1
	if [[ $CASE_KIND == history ]]; then
		check_history || return 1
	fi
	if [[ $CASE_KIND != renew ]]; then
		check_next_run_skips || return 1
		check_no_leftovers || return 1
	fi
	return 0
}

# recover: the next run of the tool, without the killer.
recover() {
	local rc=0
	# shellcheck disable=SC2046
	timeout 120 $(case_cmd) "$C/vm/vm.ovl" >"$C/recover.out" 2>"$C/recover.err" </dev/null ||
		rc=$?
	((rc == 0)) || why "the recovering run failed (exit $rc)"
}

# crash_case KILLER_VARS...: crash the tool in the prepared case $C as the
# variables say, then recover and check everything.
crash_case() {
	# shellcheck disable=SC2046
	run_killed "$@" -- $(case_cmd) "$C/vm/vm.ovl"
	[[ -n "$CRASH_SID" ]] ||
		why "the tool was not killed (exit $CRASH_STATUS); calls: $(logged_calls)" || return 1
	wait_orphans || why "orphans of the killed tool still run after 60 s" || return 1
	check_guest_view "after the crash" || return 1
	recover || return 1
	check_recovered
}

# What a failed case looked like, for the failure message.
case_report() {
	local st=$C/vm/base.img.history
	echo "=== $1"
	echo "assertion: $(cat "$C/why" 2>/dev/null)"
	echo "killer log: $(cut -c 1-160 "$C/log" 2>/dev/null | tr '\n' ';')"
	echo "crash exit $CRASH_STATUS, stderr: $(cat "$C/crash.err" 2>/dev/null)"
	echo "recovery stderr: $(cat "$C/recover.err" 2>/dev/null)"
	echo "next run stderr: $(cat "$C/next.err" 2>/dev/null)"
	echo "files:"
	(cd "$C/vm" && find . -printf '  %p %s %i\n' | LC_ALL=C sort)
	if [[ -f "$st/history.db" ]]; then
		echo "commits: $(ck_db "SELECT seq, pending, abandoned, file, substr(digest, 1, 20) FROM commits" | tr '\n' ';')"
		echo "journal: $(ck_db "SELECT * FROM journal" | tr '\n' ';')"
		echo "meta: $(ck_db "SELECT key, value FROM meta WHERE key IN ('head', 'pristine')" | tr '\n' ';')"
	fi
	echo "base vs reference: $(qemu-img compare -f raw -F raw "$C/vm/base.img" "$C/ref/guest.raw" 2>&1 | head -n 2 | tr '\n' ' ')"
	echo "base vs base before: $(qemu-img compare -f raw -F raw "$C/vm/base.img" "$C/ref/base.before.raw" 2>&1 | head -n 2 | tr '\n' ' ')"
}

failed() {
	FAILURES+=("$(case_report "$1")")
}

report_failures() {
	((${#FAILURES[@]} == 0)) ||
		fail "$(printf '%s\n' "${#FAILURES[@]} case(s) failed:" "${FAILURES[@]}")"
}

# crash_matrix PHASE KIND MODE WHEN: for every qemu-img call K of the run,
# a fresh case, killed after (WHEN=after) or before (WHEN=before) call K.
crash_matrix() {
	local phase=$1 kind=$2 mode=$3 when=$4 k
	local -a vars
	count_calls "$phase" "$kind"
	for ((k = 1; k <= NCALLS; k++)); do
		vars=("KILL_AT=$k" "KILL_MODE=$mode")
		[[ $when == before ]] && vars+=(KILL_BEFORE=1)
		if ! prepare_case "$phase" "$kind"; then
			FAILURES+=("=== K=$k: cannot prepare the case")
			continue
		fi
		if ! crash_case "${vars[@]}"; then
			failed "$kind phase $phase, K=$k (call $k was $(call_at "$k")), $mode kill $when the call"
		fi
	done
	report_failures
}

# ---------------------------------------------------------------------------
# ovl-commit with history: the first commit (the store is created).

@test "first commit: kill -9 of the process group after each qemu-img call; the next ovl-commit recovers" {
	crash_matrix 1 history group after
}

@test "first commit: kill -9 of the process group before each qemu-img call; the next ovl-commit recovers" {
	crash_matrix 1 history group before
}

@test "first commit: kill -9 of ovl-commit alone after each qemu-img call; the next ovl-commit recovers" {
	crash_matrix 1 history parent after
}

@test "first commit: kill -9 of ovl-commit alone before each qemu-img call (it runs orphaned); the next ovl-commit recovers" {
	crash_matrix 1 history parent before
}

# ---------------------------------------------------------------------------
# ovl-commit with history: a second commit (steady state).

@test "second commit: kill -9 of the process group after each qemu-img call; the next ovl-commit recovers" {
	crash_matrix 2 history group after
}

@test "second commit: kill -9 of the process group before each qemu-img call; the next ovl-commit recovers" {
	crash_matrix 2 history group before
}

@test "second commit: kill -9 of ovl-commit alone after each qemu-img call; the next ovl-commit recovers" {
	crash_matrix 2 history parent after
}

@test "second commit: kill -9 of ovl-commit alone before each qemu-img call (it runs orphaned); the next ovl-commit recovers" {
	crash_matrix 2 history parent before
}

# ---------------------------------------------------------------------------
# A crash of the recovering run itself.

@test "a crash while recovering (at each of its qemu-img calls) is recovered by the run after it" {
	local k1 k2 mode n2 calls2 first
	local -a at
	count_calls 1 history
	call_index commit >/dev/null || fail "no qemu-img commit among the calls: $CALLS"
	# Two states with a journal entry to finish: killed just after qemu-img
	# commit (the overlay still the archived one; the replacement being made
	# beside it dies too), and after the last call (a new overlay made under
	# its temporary name).  The recovering run is then killed at each of its
	# own calls: its whole group in the first state, the tool alone in the
	# second.
	for k1 in commit "$NCALLS"; do
		mode=group
		at=(KILL_ON=commit)
		if [[ $k1 != commit ]]; then
			mode=parent
			at=(KILL_AT="$k1")
		fi
		prepare_case 1 history || fail "cannot prepare the case"
		run_killed "${at[@]}" KILL_MODE=group -- ovl-commit "$C/vm/vm.ovl"
		[[ -n "$CRASH_SID" ]] || fail "K=$k1: the tool was not killed"
		wait_orphans || fail "K=$k1: orphans still run"
		cp -a "$C/vm" "$C/vm.crashed"
		first=$C
		# How many calls does the recovering run make from this state?
		run_killed -- ovl-commit "$C/vm/vm.ovl"
		((CRASH_STATUS == 0)) ||
			fail "K=$k1: the recovering run failed (exit $CRASH_STATUS): $(cat "$C/crash.err")"
		calls2=$(logged_calls)
		n2=$(wc -w <<<"$calls2")
		echo "# recovery after a kill at call $k1: $n2 calls: $calls2" >&3
		for ((k2 = 1; k2 <= n2; k2++)); do
			C=$first
			rm -rf "$C/vm" && cp -a "$C/vm.crashed" "$C/vm" || fail "cannot restore"
			rm -f "$C/why" "$C/recover.err" "$C/next.err"
			if ! crash_case KILL_AT="$k2" KILL_MODE="$mode"; then
				failed "first commit killed at K=$k1, recovery killed ($mode) after its call $k2 ($(call_at "$k2"))"
			fi
		done
	done
	report_failures
}

# ---------------------------------------------------------------------------
# Killed while qemu-img commit writes the base.

# during_matrix MODE: big images, so that the commit takes a moment; the
# kill comes as soon as qemu-img commit has begun to fill the base's holes.
during_matrix() {
	local mode=$1 phase state
	CK_SIZE=big
	for phase in 1 2; do
		count_calls "$phase" history
		call_index commit >/dev/null || fail "no qemu-img commit among the calls: $CALLS"
		prepare_case "$phase" history || fail "cannot prepare the case"
		run_killed KILL_ON=commit KILL_MODE="$mode" KILL_DURING=1 KILL_DELAY=0 \
			KILL_WHEN_GROWN="$C/vm/base.img" -- ovl-commit "$C/vm/vm.ovl"
		if [[ -z "$CRASH_SID" ]]; then
			FAILURES+=("=== phase $phase: the tool was not killed (exit $CRASH_STATUS)")
			continue
		fi
		if ! wait_orphans; then
			failed "phase $phase: orphans still run after 60 s"
			continue
		fi
		if qemu-img compare -q -f raw -F raw "$C/vm/base.img" "$C/ref/base.before.raw"; then
			state="untouched"
		elif qemu-img compare -q -f raw -F raw "$C/vm/base.img" "$C/ref/guest.raw"; then
			state="fully written"
		else
			state="half-written"
		fi
		echo "# phase $phase, $mode kill during qemu-img commit: $(grep KILL "$C/log" | cut -d ' ' -f 5-); base $state" >&3
		if ! check_guest_view "after the crash" || ! recover || ! check_recovered; then
			failed "phase $phase, $mode kill during qemu-img commit (base $state)"
		fi
	done
	report_failures
}

@test "kill -9 of the process group during qemu-img commit (half-written base); the next ovl-commit finishes it" {
	during_matrix group
}

@test "kill -9 of ovl-commit alone during qemu-img commit; the orphaned commit ends, the next ovl-commit finishes" {
	during_matrix parent
}

@test "an orphaned qemu-img commit still holds the base: the next ovl-commit exits 3 and changes nothing; after it ends, the next run recovers" {
	local phase before after rc
	CK_SIZE=big
	for phase in 1 2; do
		count_calls "$phase" history
		call_index commit >/dev/null || fail "no qemu-img commit among the calls: $CALLS"
		prepare_case "$phase" history || fail "cannot prepare the case"
		run_killed KILL_ON=commit KILL_MODE=parent KILL_DURING=1 KILL_DELAY=0 \
			KILL_WHEN_LOCKED="$C/vm/base.img" ORPHAN_HOLD=4 -- ovl-commit "$C/vm/vm.ovl"
		[[ -n "$CRASH_SID" ]] || fail "phase $phase: the tool was not killed (exit $CRASH_STATUS)"
		grep -q 'KILL parent .* during (held' "$C/log" ||
			fail "phase $phase: the orphan was not held: $(cat "$C/log")"
		session_alive "$CRASH_SID" || fail "phase $phase: no orphan runs"
		before=$(sha "$C/vm/base.img"; sha "$C/vm/vm.ovl"; names_in "$C/vm";
			names_in "$C/vm/base.img.history/commits")
		rc=0
		timeout 60 ovl-commit "$C/vm/vm.ovl" >"$C/busy.out" 2>"$C/busy.err" </dev/null ||
			rc=$?
		session_alive "$CRASH_SID" ||
			fail "phase $phase: the orphan ended before the check (raise ORPHAN_HOLD)"
		after=$(sha "$C/vm/base.img"; sha "$C/vm/vm.ovl"; names_in "$C/vm";
			names_in "$C/vm/base.img.history/commits")
		((rc == 3)) || fail "phase $phase: ovl-commit beside a running orphaned qemu-img" \
			"commit exited $rc, not 3 (busy): $(cat "$C/busy.err")"
		grep -q 'in use' "$C/busy.err" || fail "phase $phase: no 'in use' message: $(cat "$C/busy.err")"
		[[ "$before" == "$after" ]] ||
			fail "phase $phase: the busy run changed files: $before // $after"
		wait_orphans || fail "phase $phase: the orphan still runs after 60 s"
		if ! check_guest_view "after the orphan ended" || ! recover || ! check_recovered; then
			failed "phase $phase: recovery after the orphaned commit ended"
		fi
	done
	report_failures
}

# ---------------------------------------------------------------------------
# No store: ovl-commit --no-history and ovl-renew are safe by the order of
# their steps, and their next run cleans up.

@test "ovl-commit --no-history: kill -9 of the process group after each qemu-img call; the next run finishes" {
	crash_matrix 1 plain group after
}

@test "ovl-commit --no-history: kill -9 of the tool alone before each qemu-img call; the next run finishes" {
	crash_matrix 1 plain parent before
}

@test "ovl-renew: kill -9 of the process group after each qemu-img call; the next run leaves no temporary file" {
	crash_matrix 1 renew group after
}

@test "ovl-renew: kill -9 of the tool alone before each qemu-img call; the next run leaves no temporary file" {
	crash_matrix 1 renew parent before
}
