#!/usr/bin/env bats
# Crash tests at the journal's steps ("Nothing is lost"; ovl-undo: "kill -9
# after any step leaves a state that the next run of any ovl tool finishes
# or rolls back; the base is always either the old head state or the target
# state, never a mix, once recovery has run").
#
# OVL_TEST_CRASH=OP:STEP makes a tool SIGKILL itself right after STEP of OP
# is durable in the store's journal (src/lib/journal.h): ovl-commit at
# commit:archive (to be rolled back), commit:commit and commit:renew (to be
# finished), ovl-undo at undo:renew and undo:write, ovl-history prune at
# prune:fold and prune:cleanup.  Each case builds a fresh history (a 64 MiB
# raw base with data, commits with overlapping data and zero writes, a raw
# reference of the base after each commit), crashes the tool at one step,
# checks what the crash left (the guest view at least), then lets the next
# run of one of the tools recover -- ovl-history list, ovl-commit, ovl-undo,
# ovl-renew in turn -- and checks the result: empty journal, no pending
# commit, the expected head, the base byte-exact to its reference, no
# temporary file beside the base or the overlay or in the store, no ovl-nbd.*
# directory in TMPDIR (each case has its own), `ovl-history verify` happy.
#
# Kills from outside complete the picture, each followed by a crash of the
# recovering run itself and a second recovery: an extents undo killed while
# its qemu-nbd writes the base (a throttling qemu-nbd first on PATH makes
# that take seconds, so the base is left half-written), a replay undo and a
# prune killed during their qemu-img commit (tests/bats/qemu-img-killer
# behind a small front that picks the N-th `qemu-img commit`), a commit's
# recovery killed during its qemu-img commit.  Recovery never passes a
# crash point (journal_crash_point is called in the normal path only), so
# OVL_TEST_CRASH on a recovering run only hits the run's own new operation.
#
# Every @test runs its cases to the end and then fails with a report of
# each failed case: the assertion, the runs' stderr, the files and the
# database rows.

load helpers

KILLER="$BATS_TEST_DIRNAME/qemu-img-killer"
REAL_QEMU_NBD=$(command -v qemu-nbd)

setup() {
	ovl_setup
	command -v sqlite3 >/dev/null || skip "no sqlite3 command"
	command -v setsid >/dev/null || skip "no setsid command"
	# Each case gets its own TMPDIR under this root; it must stay short:
	# qemu-nbd's unix socket goes in it.
	CS_OWN_TMPROOT=
	if ((${#BATS_TEST_TMPDIR} > 60)); then
		CS_TMPROOT=$(mktemp -d /tmp/ovl-cs.XXXXXX)
		CS_OWN_TMPROOT=$CS_TMPROOT
	else
		CS_TMPROOT=$BATS_TEST_TMPDIR
	fi
	SIDS_FILE="$BATS_TEST_TMPDIR/.crash-sids"
	: >"$SIDS_FILE"
	FAILURES=()
}

teardown() {
	kill_crashed_sessions
	ovl_teardown
	[[ -z "${CS_OWN_TMPROOT:-}" ]] || rm -rf -- "$CS_OWN_TMPROOT"
}

# ---------------------------------------------------------------------------
# A case: $C/vm holds base.img, the overlay vm.ovl and the store ($ST);
# $C/ref holds ref-N.raw, the base after commit N (ref-0: before the first).

# guest_writes N: what the guest writes before commit N, through the
# overlay (sub-cluster writes copy the rest of the cluster from the base):
# data over base data and over committed data, zero writes hiding data,
# the last cluster; commits 3 and 5 write 16 and 8 MiB, so that an undo
# from 5 to 2 has some 30 MiB to write.
guest_writes() {
	local -a c
	case $1 in
	1) c=('write -P 0x11 0 64k' 'write -P 0x12 512k 1M' 'write -z 8M 512k'
		'write -P 0x13 20M 3M' 'write -P 0x15 33M 4k') ;;
	2) c=('write -P 0x21 32k 64k' 'write -z 20M 1M' 'write -P 0x22 8448k 64k'
		'write -P 0x23 40M 2M' 'write -z 63M 64k') ;;
	3) c=('write -P 0x31 24M 16M' 'write -z 0 128k' 'write -P 0x32 40M 512k'
		'write -P 0x33 21M 2M') ;;
	4) c=('write -z 40M 4M' 'write -P 0x41 30M 1M' 'write -P 0x42 8M 64k'
		'write -P 0x43 67043328 64k') ;;
	5) c=('write -P 0x51 0 2M' 'write -z 26M 512k' 'write -P 0x52 33M 8k'
		'write -P 0x53 50M 3M' 'write -P 0x54 12M 8M') ;;
	*) return 1 ;;
	esac
	qio "$VM/vm.ovl" qcow2 "${c[@]}"
}

# new_case NCOMMITS: a fresh case with NCOMMITS commits made (head =
# NCOMMITS, the overlay empty), and a fresh TMPDIR.
new_case() {
	local ncommits=$1 n
	C=$(mktemp -d "$T/case.XXXXXX") || return 1
	VM=$C/vm
	REF=$C/ref
	ST=$VM/base.img.history
	mkdir "$VM" "$REF" || return 1
	TMPDIR=$(mktemp -d "$CS_TMPROOT/t.XXXXXX") || return 1
	export TMPDIR
	qemu-img create -q -f raw "$VM/base.img" 64M &&
		qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0x33 8M 2M' \
			-c 'write -P 0xa5 63M 1M' "$VM/base.img" >/dev/null &&
		qemu-img create -q -f qcow2 -b base.img -F raw "$VM/vm.ovl" &&
		cp --sparse=always "$VM/base.img" "$REF/ref-0.raw" || return 1
	for ((n = 1; n <= ncommits; n++)); do
		guest_writes "$n" &&
			ovl-commit -q -m "commit $n" "$VM/vm.ovl" &&
			cp --sparse=always "$VM/base.img" "$REF/ref-$n.raw" || return 1
	done
}

db() {
	sqlite3 -batch "$ST/history.db" "$@"
}

# The journal's rows as OP:SEQ:STEP, space-separated.
journal_rows() {
	db "SELECT group_concat(op || ':' || seq || ':' || step, ' ') FROM
		(SELECT * FROM journal ORDER BY id)"
}

# The commits' numbers, space-separated.
commit_seqs() {
	db "SELECT group_concat(seq, ' ') FROM (SELECT seq FROM commits ORDER BY seq)"
}

# The archive files in the store, space-separated.
archive_files() {
	(cd "$ST/commits" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | tr '\n' ' ' |
		sed 's/ $//')
}

# The archive file names of commits SEQ..., space-separated.
archive_names() {
	local seq
	for seq in "$@"; do printf '%08d.qcow2\n' "$seq"; done | tr '\n' ' ' | sed 's/ $//'
}

# ---------------------------------------------------------------------------
# Assertions: each appends what is wrong to $C/why and returns 1.  A case
# runs inside `if ! ...` (so set -e does not stop it half-way) and fails
# when $C/why is not empty at its end.

why() {
	printf '%s\n' "$*" >>"$C/why"
	return 1
}

ok() {
	[[ ! -s "$C/why" ]]
}

same_raw() {
	qemu-img compare -q -f raw -F raw "$1" "$2" 2>/dev/null
}

# Which references FILE reads like, for messages.
which_ref() {
	local f hits=
	for f in "$REF"/*.raw; do
		same_raw "$1" "$f" && hits+=" $(basename "$f")"
	done
	echo "${hits:- none of the references (a mix)}"
}

# check_base REF WHEN: the base reads exactly like $REF/REF.
check_base() {
	same_raw "$VM/base.img" "$REF/$1" ||
		why "$2: the base is not $1; it reads like:$(which_ref "$VM/base.img")"
}

# check_guest REF WHEN: the guest view (overlay over base) reads like REF.
check_guest() {
	qemu-img compare -U -q -f qcow2 -F raw "$VM/vm.ovl" "$REF/$1" 2>/dev/null ||
		why "$2: the guest view (overlay over base) is not $1"
}

# Bytes allocated in the overlay (zero clusters included) are none / some.
overlay_has_data() {
	qemu-img map -U --output=json -f qcow2 "$VM/vm.ovl" |
		grep -q '"depth": 0, "present": true'
}

check_overlay_empty() {
	qemu-img check -q -f qcow2 "$VM/vm.ovl" >/dev/null 2>&1 ||
		why "$1: the overlay fails qemu-img check"
	! overlay_has_data || why "$1: the overlay holds data, it should be empty"
}

check_overlay_data() {
	overlay_has_data || why "$1: the overlay's data is gone"
}

check_journal() {
	local got
	got=$(journal_rows)
	[[ "$got" == "$1" ]] || why "$2: the journal holds '$got', not '$1'"
}

check_head() {
	local got
	got=$(db "SELECT value FROM meta WHERE key = 'head'")
	[[ "$got" == "$1" ]] || why "$2: head is '$got', not $1"
}

# check_no_leftovers WHEN: no .ovl-tmp-* beside the base or the overlay or
# in the store, nothing but the overlay, the base and the store in their
# directory, no ovl-nbd.* directory in TMPDIR.
check_no_leftovers() {
	local left
	left=$(find "$VM" -name '.ovl-tmp-*' -printf '%P ')
	[[ -z "$left" ]] || why "$1: temporary files left: $left"
	[[ "$(names_in "$VM")" == "$(names_list base.img base.img.history vm.ovl)" ]] ||
		why "$1: the overlay's directory holds: $(names_in "$VM" | tr '\n' ' ')"
	left=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 -name 'ovl-nbd.*' -printf '%P ')
	[[ -z "$left" ]] || why "$1: left in TMPDIR: $left"
}

# check_recovered HEAD WHEN: what every recovery must leave; the base is
# ref-HEAD.
check_recovered() {
	local head=$1 when=$2 n
	n=$(db "SELECT count(*) FROM journal")
	[[ "$n" == 0 ]] || why "$when: $n journal rows remain: $(journal_rows)"
	n=$(db "SELECT count(*) FROM commits WHERE pending = 1")
	[[ "$n" == 0 ]] || why "$when: $n commits still pending"
	check_head "$head" "$when"
	check_base "ref-$head.raw" "$when"
	check_no_leftovers "$when"
	timeout 120 ovl-history verify "$VM/vm.ovl" >"$C/verify.out" 2>&1 ||
		why "$when: ovl-history verify failed: $(cat "$C/verify.out")"
}

# undo_ok N [OPTIONS...]: ovl-undo --to N succeeds and the base is ref-N.
undo_ok() {
	local to=$1 rc=0
	shift
	timeout 120 ovl-undo -q --to "$to" "$@" "$VM/vm.ovl" >"$C/undo.out" 2>&1 </dev/null || rc=$?
	((rc == 0)) || why "ovl-undo --to $to $* exited $rc: $(cat "$C/undo.out")" || return 1
	check_base "ref-$to.raw" "after ovl-undo --to $to $*"
	check_head "$to" "after ovl-undo --to $to $*"
}

# ---------------------------------------------------------------------------
# Running the tools.

# crash_at OP:STEP TOOL ARGS...: TOOL in a session of its own with
# OVL_TEST_CRASH=OP:STEP; it must die of SIGKILL (status 137).
crash_at() {
	local point=$1
	shift
	CRASH_STATUS=0
	OVL_TEST_CRASH=$point timeout 120 setsid -w "$@" >"$C/crash.out" 2>"$C/crash.err" \
		</dev/null || CRASH_STATUS=$?
	((CRASH_STATUS == 137)) ||
		why "OVL_TEST_CRASH=$point $*: exit $CRASH_STATUS, not 137 (SIGKILL): $(cat "$C/crash.err")"
}

# recover_by STATUS TOOL ARGS...: the next run, without any crash setting;
# it must exit STATUS.
recover_by() {
	local want=$1 rc=0
	shift
	timeout 120 "$@" >"$C/recover.out" 2>"$C/recover.err" </dev/null || rc=$?
	((rc == want)) ||
		why "the recovering run '$*' exited $rc, not $want: $(cat "$C/recover.err")"
}

# check_said TEXT WHO: the recovering run said TEXT (notes go to stdout,
# warnings to stderr).
check_said() {
	cat "$C/recover.out" "$C/recover.err" | grep -qF -- "$1" ||
		why "the recovering run ($2) did not say '$1': $(cat "$C/recover.out" "$C/recover.err")"
}

# The recovering tool's command line: list, commit, undo TO, renew.
tool_cmd() {
	case $1 in
	list) echo ovl-history list ;;
	commit) echo ovl-commit ;;
	undo) echo ovl-undo --to "$2" ;;
	renew) echo ovl-renew ;;
	esac
}

# A qemu-img front first on PATH: every call goes on to the killer
# (tests/bats/qemu-img-killer, which logs it); the KILL_SUB_AT-th call of
# subcommand KILL_SUB is handed to it with KILL_AT=1 on a count of its own,
# so the killer's other settings (KILL_DURING, KILL_MODE...) apply to it.
use_front() {
	FRONT_BIN="$BATS_TEST_TMPDIR/front-bin"
	mkdir -p "$FRONT_BIN"
	cat >"$FRONT_BIN/qemu-img" <<'EOF'
#!/bin/bash
sub=
for a in "$@"; do
	case "$a" in -*) ;; *) sub=$a; break ;; esac
done
if [[ -n "$sub" && "$sub" == "${KILL_SUB:-}" ]]; then
	exec 9<>"$SUB_COUNT_FILE.lock"
	flock 9
	n=$(cat -- "$SUB_COUNT_FILE" 2>/dev/null)
	n=$((${n:-0} + 1))
	printf '%s\n' "$n" >"$SUB_COUNT_FILE"
	flock -u 9
	exec 9>&-
	if [[ "$n" == "${KILL_SUB_AT:-}" ]]; then
		exec env COUNT_FILE="$COUNT_FILE.at" KILL_AT=1 "$KILLER" "$@"
	fi
fi
exec env -u KILL_AT "$KILLER" "$@"
EOF
	chmod +x "$FRONT_BIN/qemu-img"
}

# run_front VAR=VALUE... -- TOOL ARGS...: TOOL in its own session and
# process group with the front first on PATH, set up by the VARs.  Sets
# CRASH_STATUS, and CRASH_SID when the killer killed.
run_front() {
	local -a vars=()
	while [[ $1 != -- ]]; do
		vars+=("$1")
		shift
	done
	shift
	: >"$C/log"
	rm -f "$C/count" "$C/count.at" "$C/subcount"
	CRASH_STATUS=0
	env LOG_FILE="$C/log" COUNT_FILE="$C/count" SUB_COUNT_FILE="$C/subcount" \
		REAL_QEMU_IMG="$REAL_QEMU_IMG" KILLER="$KILLER" PATH="$FRONT_BIN:$PATH" \
		"${vars[@]}" timeout 120 setsid -w "$@" >"$C/crash.out" 2>"$C/crash.err" \
		</dev/null || CRASH_STATUS=$?
	CRASH_SID=$(awk '$2 == "KILL" { print $4; exit }' "$C/log")
	[[ -z "$CRASH_SID" ]] || printf '%s\n' "$CRASH_SID" >>"$SIDS_FILE"
	[[ -n "$CRASH_SID" && $CRASH_STATUS == 137 ]] ||
		why "$*: not killed during qemu-img $KILL_SUB_DESC (exit $CRASH_STATUS):" \
			"$(cat "$C/crash.err"); calls: $(cut -d ' ' -f 1-2 "$C/log" | tr '\n' ' ')"
}

# use_slow_nbd BYTES_PER_SECOND: a qemu-nbd first on PATH ($SLOW_BIN) that
# serves every writable export (the base, in an extents undo) through a
# throttle filter, so that an undo's writes into the base take seconds.
use_slow_nbd() {
	SLOW_BIN="$BATS_TEST_TMPDIR/slow-nbd-bin"
	mkdir -p "$SLOW_BIN"
	cat >"$SLOW_BIN/qemu-nbd" <<EOF
#!/bin/bash
for a in "\$@"; do
	[[ "\$a" == --read-only ]] && exec '$REAL_QEMU_NBD' "\$@"
done
# The image options come last: put them under a throttle filter (the
# test's paths hold no comma).
opts=\${*: -1}
set -- "\${@:1:\$#-1}"
exec '$REAL_QEMU_NBD' --object throttle-group,id=ovlslow,x-bps-write=$1 "\$@" \\
	"driver=throttle,throttle-group=ovlslow,\$(sed -E 's/(^|,)([a-z])/\\1file.\\2/g' <<<"\$opts")"
EOF
	chmod +x "$SLOW_BIN/qemu-nbd"
}

# start_slow TOOL ARGS...: TOOL in the background, in a session of its own,
# with the slow qemu-nbd first on PATH.  BG_PID: its pid, session and group.
start_slow() {
	PATH="$SLOW_BIN:$PATH" setsid -w "$@" >"$C/bg.out" 2>"$C/bg.err" </dev/null &
	BG_PID=$!
	printf '%s\n' "$BG_PID" >>"$SIDS_FILE"
}

# kill_when_changed FILE SNAPSHOT: once FILE differs from SNAPSHOT (the
# background tool has begun to write it), kill -9 the tool's whole process
# group (qemu-nbd included).  BG_STATUS: the tool's exit status.
kill_when_changed() {
	local t sid changed=0
	for ((t = 0; t < 1500; t++)); do
		if ! cmp -s "$1" "$2"; then
			changed=1
			break
		fi
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 0.02
	done
	sid=$(ps -o sid= -p "$BG_PID" 2>/dev/null | tr -d ' ')
	if ((changed)) && [[ "$sid" == "$BG_PID" ]]; then
		kill -9 -- "-$BG_PID"
	fi
	BG_STATUS=0
	wait "$BG_PID" || BG_STATUS=$?
	((changed)) || why "$3: $1 never changed (exit $BG_STATUS): $(cat "$C/bg.err")" || return 1
	[[ "$sid" == "$BG_PID" ]] || why "$3: the tool does not lead its own session" || return 1
	((BG_STATUS == 137)) || why "$3: exit $BG_STATUS, not 137: $(cat "$C/bg.err")"
}

# ---------------------------------------------------------------------------
# Reports.

case_report() {
	echo "=== $1"
	echo "assertions: $(tr '\n' ';' <"$C/why" 2>/dev/null)"
	echo "crash run output: $(cat "$C/crash.out" "$C/crash.err" "$C/bg.out" "$C/bg.err" 2>/dev/null | tr '\n' ' ')"
	echo "recovering run output: $(cat "$C/recover.out" "$C/recover.err" 2>/dev/null | tr '\n' ' ')"
	[[ -s "$C/log" ]] && echo "qemu-img calls: $(cut -c 1-100 "$C/log" | tr '\n' ';')"
	echo "files:"
	(cd "$C/vm" && find . -printf '  %p %s\n' | LC_ALL=C sort)
	echo "TMPDIR: $(find "$TMPDIR" -mindepth 1 -printf '%P ' 2>/dev/null)"
	if [[ -f "$ST/history.db" ]]; then
		echo "commits (seq|pending|abandoned|file|digest): $(db "SELECT seq, pending, abandoned, file, substr(digest, 1, 24) FROM commits ORDER BY seq" | tr '\n' ';')"
		echo "journal: $(db "SELECT * FROM journal" | tr '\n' ';')"
		echo "meta: $(db "SELECT key, value FROM meta WHERE key IN ('head', 'oldest', 'pristine', 'pristine_digest')" | tr '\n' ';')"
	fi
	echo "base reads like:$(which_ref "$VM/base.img")"
}

# run_case DESCRIPTION FUNCTION ARGS...: one case; a failure is recorded.
run_case() {
	local desc=$1
	shift
	if ! "$@" || ! ok; then
		FAILURES+=("$(case_report "$desc")")
	fi
}

report_failures() {
	((${#FAILURES[@]} == 0)) ||
		fail "$(printf '%s\n' "${#FAILURES[@]} case(s) failed:" "${FAILURES[@]}")"
}

# ---------------------------------------------------------------------------
# ovl-commit: four commits made, the guest has written the fifth commit's
# data; ovl-commit is crashed at commit:POINT and TOOL's run recovers.
#
#   archive: nothing archived or written yet -> rolled back: no commit 5,
#            no archive, the base is state 4, the overlay keeps its data.
#            ovl-commit then commits it afresh (as 5: a rolled-back
#            commit gives its number back); ovl-undo and ovl-renew refuse
#            (exit 1) an overlay that holds data, after rolling back.
#   commit, renew: finished: commit 5 is head, the base is the guest view,
#            the overlay empty.  ovl-undo --to 2 then goes on to state 2.

commit_case() {
	local point=$1 tool=$2 want_rc=0 head=5 seqs="1 2 3 4 5" cmd
	new_case 4 || why "cannot build the history" || return 1
	guest_writes 5 &&
		qemu-img convert -f qcow2 -O raw "$VM/vm.ovl" "$REF/guest.raw" &&
		cp --sparse=always "$REF/guest.raw" "$REF/ref-5.raw" || why "cannot prepare" || return 1
	crash_at "commit:$point" ovl-commit -m "commit 5" "$VM/vm.ovl" || return 1

	# What the crash left: the guest view intact in every case.
	check_guest guest.raw "after the crash"
	check_journal "commit:5:$point" "after the crash"
	case $point in
	archive)
		check_base ref-4.raw "after the crash"
		[[ ! -e "$ST/commits/00000005.qcow2" ]] ||
			why "after the crash at commit:archive, archive 5 exists already"
		;;
	commit)
		check_base ref-4.raw "after the crash"
		[[ -f "$ST/commits/00000005.qcow2" ]] ||
			why "after the crash at commit:commit, archive 5 is not in the store"
		;;
	renew)
		check_base guest.raw "after the crash"
		;;
	esac
	ok || return 1

	if [[ $point == archive ]]; then
		head=4 seqs="1 2 3 4"
		case $tool in
		commit) head=5 seqs="1 2 3 4 5" ;;   # 5 given back, then taken again
		undo | renew) want_rc=1 ;;
		esac
	elif [[ $tool == undo ]]; then
		head=2
	fi
	# shellcheck disable=SC2046
	recover_by "$want_rc" $(tool_cmd "$tool" 2) "$VM/vm.ovl"
	if [[ $point == archive ]]; then
		check_said "rolling back commit 5" "$tool"
	else
		check_said "finishing commit 5" "$tool"
	fi
	check_recovered "$head" "after recovery by $tool"
	[[ "$(commit_seqs)" == "$seqs" ]] ||
		why "after recovery by $tool: commits are '$(commit_seqs)', not '$seqs'"
	# shellcheck disable=SC2086
	[[ "$(archive_files)" == "$(archive_names $seqs)" ]] ||
		why "after recovery by $tool: the archives are '$(archive_files)'"
	if ((head == 4)); then
		# Rolled back: the overlay still holds the guest's data.
		check_overlay_data "after recovery by $tool"
		check_guest guest.raw "after recovery by $tool"
		ok || return 1
		# Nothing lost: the next commit takes it, under the number the
		# rolled-back commit gave back (5; ref-5.raw is the guest's view).
		recover_by 0 ovl-commit -q "$VM/vm.ovl" || return 1
		check_recovered 5 "after the commit that followed"
		[[ "$(commit_seqs)" == "1 2 3 4 5" ]] ||
			why "after the commit that followed: commits are '$(commit_seqs)'"
	else
		check_overlay_empty "after recovery by $tool"
		check_guest "ref-$head.raw" "after recovery by $tool"
	fi
	ok || return 1
	# The whole history is there: to state 1 and back to the newest.
	undo_ok 1 && undo_ok "$(db "SELECT max(seq) FROM commits")"
}

commit_matrix() {
	local point=$1 tool
	for tool in list commit undo renew; do
		run_case "commit:$point, recovered by $(tool_cmd "$tool" 2)" commit_case "$point" "$tool"
	done
	report_failures
}

@test "commit:archive: kill -9 once the pending commit is logged; each tool's next run rolls it back" {
	commit_matrix archive
}

@test "commit:commit: kill -9 with the overlay archived, before the base is written; each tool's next run finishes the commit" {
	commit_matrix commit
}

@test "commit:renew: kill -9 with the base written, before the overlay is renewed; each tool's next run finishes the commit" {
	commit_matrix renew
}

commit_recovery_killed() {
	new_case 4 || why "cannot build the history" || return 1
	guest_writes 5 &&
		qemu-img convert -f qcow2 -O raw "$VM/vm.ovl" "$REF/ref-5.raw" || return 1
	crash_at commit:commit ovl-commit "$VM/vm.ovl" || return 1
	# The recovering run dies while its qemu-img commit writes the base.
	KILL_SUB_DESC=commit run_front KILL_SUB=commit KILL_SUB_AT=1 KILL_DURING=1 \
		KILL_DELAY=0 KILL_WHEN_GROWN="$VM/base.img" -- ovl-history list "$VM/vm.ovl" ||
		return 1
	check_guest ref-5.raw "after the recovering run was killed"
	check_journal "commit:5:commit" "after the recovering run was killed"
	ok || return 1
	recover_by 0 ovl-renew "$VM/vm.ovl"
	check_said "finishing commit 5" ovl-renew
	check_recovered 5 "after the second recovery"
	check_overlay_empty "after the second recovery"
	check_guest ref-5.raw "after the second recovery"
}

@test "commit:commit, then the recovering run killed during its qemu-img commit: the run after it finishes" {
	use_front
	run_case "commit:commit, recovery killed during qemu-img commit" commit_recovery_killed
	report_failures
}

# ---------------------------------------------------------------------------
# ovl-undo: five commits, head 5; `ovl-undo --to 2` is crashed at
# undo:POINT (renew: the undo is logged, the overlay about to be renewed;
# write: the base about to be rewritten).  Either way the base is still
# state 5; TOOL's run finishes the undo: the base is state 2 (ovl-undo
# --to 4 then goes on to 4), the overlay empty, and the undone commits can
# be redone.

undo_case() {
	local point=$1 method=$2 tool=$3 head=2
	new_case 5 || why "cannot build the history" || return 1
	crash_at "undo:$point" ovl-undo --to 2 --method="$method" "$VM/vm.ovl" || return 1
	check_base ref-5.raw "after the crash"
	check_guest ref-5.raw "after the crash"
	check_journal "undo:2:$point" "after the crash"
	ok || return 1
	[[ $tool == undo ]] && head=4
	# shellcheck disable=SC2046
	recover_by 0 $(tool_cmd "$tool" 4) "$VM/vm.ovl"
	check_said "finishing the undo to state 2" "$tool"
	check_recovered "$head" "after recovery by $tool"
	check_overlay_empty "after recovery by $tool"
	check_guest "ref-$head.raw" "after recovery by $tool"
	ok || return 1
	undo_ok 5 && undo_ok 1 --method=replay && undo_ok 3
}

undo_matrix() {
	local point=$1 tool
	for tool in list commit undo renew; do
		run_case "undo:$point (extents), recovered by $(tool_cmd "$tool" 4)" \
			undo_case "$point" extents "$tool"
	done
	# The replay method's recovery, by two of the tools.
	for tool in list undo; do
		run_case "undo:$point (replay), recovered by $(tool_cmd "$tool" 4)" \
			undo_case "$point" replay "$tool"
	done
	report_failures
}

@test "undo:renew: kill -9 once the undo is logged; each tool's next run brings the base to the target" {
	undo_matrix renew
}

@test "undo:write: kill -9 before the base is rewritten; each tool's next run brings the base to the target" {
	undo_matrix write
}

# OVL_TEST_CRASH on the recovering runs: recovery passes no crash point, so
# a recovering ovl-history list finishes; a recovering ovl-undo finishes
# the old undo, then dies at the same step of its own new one, which the
# next run finishes in turn.
undo_crash_again() {
	new_case 5 || why "cannot build the history" || return 1
	crash_at undo:write ovl-undo --to 2 "$VM/vm.ovl" || return 1

	# Recovery by a read-only tool under the same setting: no crash.
	OVL_TEST_CRASH=undo:write recover_by 0 ovl-history list "$VM/vm.ovl"
	check_said "finishing the undo to state 2" "ovl-history list with OVL_TEST_CRASH=undo:write"
	check_recovered 2 "after ovl-history list with OVL_TEST_CRASH=undo:write"
	ok || return 1

	# Recovery by ovl-undo --to 2 under the setting: finished, then nothing
	# to do, so no crash either.
	crash_at undo:write ovl-undo --to 5 "$VM/vm.ovl" || return 1
	check_base ref-2.raw "after the crash of the undo to 5"
	OVL_TEST_CRASH=undo:write recover_by 0 ovl-undo --to 5 "$VM/vm.ovl"
	check_said "finishing the undo to state 5" "ovl-undo --to 5 with OVL_TEST_CRASH=undo:write"
	check_recovered 5 "after ovl-undo --to 5 with OVL_TEST_CRASH=undo:write"
	ok || return 1

	# Recovery by ovl-undo to another state: the old undo finished (to 1),
	# the new one (to 3) crashes at its own write step.
	crash_at undo:write ovl-undo --to 1 "$VM/vm.ovl" || return 1
	crash_at undo:write ovl-undo --to 3 "$VM/vm.ovl" || return 1
	# (Its notes died with it, in its stdout buffer: the state tells.)
	check_journal "undo:3:write" "after the recovering ovl-undo --to 3 crashed"
	check_head 1 "after the recovering ovl-undo --to 3 crashed"
	check_base ref-1.raw "after the recovering ovl-undo --to 3 crashed"
	check_guest ref-1.raw "after the recovering ovl-undo --to 3 crashed"
	ok || return 1
	recover_by 0 ovl-renew "$VM/vm.ovl"
	check_said "finishing the undo to state 3" ovl-renew
	check_recovered 3 "after the second recovery (ovl-renew)"
	check_overlay_empty "after the second recovery (ovl-renew)"
	ok || return 1
	undo_ok 5 && undo_ok 0
}

@test "undo:write with OVL_TEST_CRASH set again on the recovering runs: recovery never crashes, a new undo does, the next run finishes it" {
	run_case "undo:write, recovering runs with OVL_TEST_CRASH=undo:write" undo_crash_again
	report_failures
}

# --discard-overlay is not journalled: recovery cannot tell the data the
# user meant to discard from data written since, and keeps it (with a
# warning) while it finishes the base.
undo_discard_case() {
	local point=$1
	new_case 5 || why "cannot build the history" || return 1
	qio "$VM/vm.ovl" qcow2 'write -P 0x99 5M 1M' 'write -z 30M 64k' &&
		qemu-img convert -f qcow2 -O raw "$VM/vm.ovl" "$REF/guest.raw" || return 1
	crash_at "undo:$point" ovl-undo --to 2 --discard-overlay "$VM/vm.ovl" || return 1
	check_base ref-5.raw "after the crash"
	if [[ $point == renew ]]; then
		check_guest guest.raw "after the crash (the overlay not renewed yet)"
	else
		check_guest ref-5.raw "after the crash (the overlay renewed)"
	fi
	ok || return 1
	recover_by 0 ovl-history list "$VM/vm.ovl"
	check_said "finishing the undo to state 2" "ovl-history list"
	check_recovered 2 "after recovery"
	if [[ $point == renew ]]; then
		check_said "overlay holds data; left as it is" "ovl-history list"
		check_overlay_data "after recovery"
		ok || return 1
		recover_by 0 ovl-renew --discard "$VM/vm.ovl"
	fi
	check_overlay_empty "after recovery"
	check_guest ref-2.raw "after recovery"
}

@test "undo --discard-overlay killed at undo:renew: recovery finishes the base but keeps the overlay's data; at undo:write it was renewed already" {
	run_case "undo --discard-overlay at undo:renew" undo_discard_case renew
	run_case "undo --discard-overlay at undo:write" undo_discard_case write
	report_failures
}

# ---------------------------------------------------------------------------
# Kills from outside, during the write of the base.

# An extents undo from 5 to 2 writes some 30 MiB through qemu-nbd, slowed
# down to 8 MiB/s: it is killed (its process group, qemu-nbd included)
# once the base has begun to change, and the recovering run (ovl-renew)
# likewise; the base is half-written both times; the next run (ovl-commit)
# must bring it to state 2.
undo_half_written() {
	local state
	new_case 5 || why "cannot build the history" || return 1
	start_slow ovl-undo --to 2 --method=extents "$VM/vm.ovl"
	kill_when_changed "$VM/base.img" "$REF/ref-5.raw" "ovl-undo --to 2" || return 1
	state=$(which_ref "$VM/base.img")
	echo "# extents undo killed while qemu-nbd wrote: the base reads like:$state" >&3
	[[ "$state" == *"a mix"* ]] || why "the kill did not leave the base half-written: it reads like:$state"
	check_journal "undo:2:write" "after the kill"
	ok || return 1

	# The recovering run, killed the same way once it has gone past what
	# the first run wrote (so it was recovering).
	cp --sparse=always "$VM/base.img" "$C/base.killed"
	start_slow ovl-renew "$VM/vm.ovl"
	kill_when_changed "$VM/base.img" "$C/base.killed" "the recovering ovl-renew" || return 1
	state=$(which_ref "$VM/base.img")
	echo "# the recovering ovl-renew killed too: the base reads like:$state" >&3
	check_journal "undo:2:write" "after the recovering run was killed"
	ok || return 1

	recover_by 0 ovl-commit "$VM/vm.ovl"
	check_said "finishing the undo to state 2" ovl-commit
	check_recovered 2 "after the second recovery (ovl-commit)"
	check_overlay_empty "after the second recovery (ovl-commit)"
	check_guest ref-2.raw "after the second recovery (ovl-commit)"
	# (Whatever was found, the history must still be whole.)
	undo_ok 5 && undo_ok 3 --method=replay
}

@test "undo (extents): kill -9 while qemu-nbd writes the base, and again during the recovery; the next run converges to the target" {
	use_slow_nbd $((8 << 20))
	run_case "extents undo killed while qemu-nbd writes, recovery killed too" undo_half_written
	report_failures
}

# A replay undo from 5 to 2 is killed during its second qemu-img commit
# (the state is built beside the base: the base is untouched), the
# recovering ovl-history list during its first; ovl-undo --to 2 then
# finishes it (and has nothing more to do).
undo_replay_killed() {
	new_case 5 || why "cannot build the history" || return 1
	KILL_SUB_DESC="commit 2" run_front KILL_SUB=commit KILL_SUB_AT=2 KILL_DURING=1 KILL_DELAY=0.02 \
		-- ovl-undo --to 2 --method=replay "$VM/vm.ovl" || return 1
	check_base ref-5.raw "after the kill during the replay"
	check_guest ref-5.raw "after the kill during the replay"
	check_journal "undo:2:write" "after the kill during the replay"
	[[ -n "$(find "$VM" -maxdepth 1 -name '.ovl-tmp-*')" ]] ||
		why "no state under construction beside the base after the kill"
	ok || return 1
	KILL_SUB_DESC="commit 1" run_front KILL_SUB=commit KILL_SUB_AT=1 KILL_DURING=1 KILL_DELAY=0.02 \
		-- ovl-history list "$VM/vm.ovl" || return 1
	check_base ref-5.raw "after the kill of the recovering run"
	check_journal "undo:2:write" "after the kill of the recovering run"
	ok || return 1
	recover_by 0 ovl-undo --to 2 --method=replay "$VM/vm.ovl"
	check_said "finishing the undo to state 2" ovl-undo
	check_said "already in state 2" ovl-undo
	check_recovered 2 "after the second recovery"
	check_overlay_empty "after the second recovery"
	ok || return 1
	undo_ok 5
}

@test "undo (replay): kill -9 during a qemu-img commit of the replay, and again during the recovery; the next run converges to the target" {
	use_front
	run_case "replay undo killed during qemu-img commit, recovery killed too" undo_replay_killed
	report_failures
}

# ---------------------------------------------------------------------------
# ovl-history prune --keep-last 2 on five commits, head 5: commits 1..3
# are folded into the pristine copy (fold: the prune is logged, folding
# about to start; cleanup: the pristine copy folded and logged, the
# archives about to be swept).  After recovery: oldest = 3, the pristine
# copy is state 3, commits and archives 1..3 are gone, 4 and 5 kept, every
# kept state reachable byte-exact, older ones refused.

check_pruned() {
	local when=$1 pristine
	[[ "$(db "SELECT value FROM meta WHERE key = 'oldest'")" == 3 ]] ||
		why "$when: oldest is '$(db "SELECT value FROM meta WHERE key = 'oldest'")', not 3"
	pristine=$(db "SELECT value FROM meta WHERE key = 'pristine'")
	same_raw "$ST/$pristine" "$REF/ref-3.raw" ||
		why "$when: the pristine copy is not state 3; it reads like:$(which_ref "$ST/$pristine")"
	[[ "$(commit_seqs)" == "4 5" ]] || why "$when: commits are '$(commit_seqs)', not '4 5'"
	[[ "$(archive_files)" == "$(archive_names 4 5)" ]] ||
		why "$when: the archives are '$(archive_files)'"
	ok || return 1
	local rc=0
	timeout 60 ovl-undo --to 2 "$VM/vm.ovl" >"$C/undo.out" 2>&1 </dev/null || rc=$?
	((rc == 1)) || why "$when: ovl-undo --to 2 (pruned) exited $rc, not 1: $(cat "$C/undo.out")"
	undo_ok 3 && undo_ok 5 && undo_ok 4 --method=replay && undo_ok 3 --method=replay &&
		undo_ok 4 && undo_ok 5 --method=replay
}

prune_case() {
	local point=$1 tool=$2 head=5 pristine
	new_case 5 || why "cannot build the history" || return 1
	crash_at "prune:$point" ovl-history prune --keep-last 2 "$VM/vm.ovl" || return 1
	check_base ref-5.raw "after the crash"
	check_guest ref-5.raw "after the crash"
	check_journal "prune:3:$point" "after the crash"
	pristine=$(db "SELECT value FROM meta WHERE key = 'pristine'")
	if [[ $point == fold ]]; then
		same_raw "$ST/$pristine" "$REF/ref-0.raw" ||
			why "after the crash at prune:fold the pristine copy changed already"
	else
		same_raw "$ST/$pristine" "$REF/ref-3.raw" ||
			why "after the crash at prune:cleanup the pristine copy is not state 3"
		[[ "$(archive_files)" == "$(archive_names 1 2 3 4 5)" ]] ||
			why "after the crash at prune:cleanup the archives are '$(archive_files)'"
	fi
	ok || return 1
	[[ $tool == undo ]] && head=4
	# shellcheck disable=SC2046
	recover_by 0 $(tool_cmd "$tool" 4) "$VM/vm.ovl"
	check_said "finishing the prune to state 3" "$tool"
	check_recovered "$head" "after recovery by $tool"
	check_overlay_empty "after recovery by $tool"
	check_guest "ref-$head.raw" "after recovery by $tool"
	ok || return 1
	check_pruned "after recovery by $tool"
}

prune_matrix() {
	local point=$1 tool
	for tool in list commit undo renew; do
		run_case "prune:$point, recovered by $(tool_cmd "$tool" 4)" prune_case "$point" "$tool"
	done
	report_failures
}

@test "prune:fold: kill -9 once the prune is logged; each tool's next run folds and sweeps" {
	prune_matrix fold
}

@test "prune:cleanup: kill -9 with the pristine copy folded, before the sweep; each tool's next run sweeps" {
	prune_matrix cleanup
}

# Killed during the second qemu-img commit into the pristine copy (half
# folded), the recovering ovl-renew during its third; ovl-undo --to 4
# finishes the prune, then undoes.
prune_fold_killed() {
	local pristine
	new_case 5 || why "cannot build the history" || return 1
	pristine=$ST/$(db "SELECT value FROM meta WHERE key = 'pristine'")
	KILL_SUB_DESC="commit 2" run_front KILL_SUB=commit KILL_SUB_AT=2 KILL_DURING=1 KILL_DELAY=0.02 \
		-- ovl-history prune --keep-last 2 "$VM/vm.ovl" || return 1
	echo "# prune killed during its 2nd fold: the pristine copy reads like:$(which_ref "$pristine")" >&3
	! same_raw "$pristine" "$REF/ref-0.raw" || why "the kill came before the fold began"
	check_base ref-5.raw "after the kill during the fold"
	check_journal "prune:3:fold" "after the kill during the fold"
	ok || return 1
	KILL_SUB_DESC="commit 3" run_front KILL_SUB=commit KILL_SUB_AT=3 KILL_DURING=1 KILL_DELAY=0.02 \
		-- ovl-renew "$VM/vm.ovl" || return 1
	# Killed at its third qemu-img commit: it was folding.
	check_journal "prune:3:fold" "after the kill of the recovering run"
	ok || return 1
	recover_by 0 ovl-undo --to 4 "$VM/vm.ovl"
	check_said "finishing the prune to state 3" ovl-undo
	check_recovered 4 "after the second recovery"
	check_overlay_empty "after the second recovery"
	ok || return 1
	check_pruned "after the second recovery"
}

@test "prune: kill -9 during a qemu-img commit into the pristine copy, and again during the recovery; the next run converges" {
	use_front
	run_case "prune killed during the fold, recovery killed too" prune_fold_killed
	report_failures
}
