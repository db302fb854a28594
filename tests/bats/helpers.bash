# Common setup for the ovl bats suites.  -*- shell-script -*-
#
# Run by automake with OVL_BUILDDIR (the directory holding the tools, also
# first on PATH) and OVL_SRCDIR set; both default to something sensible so
# that `bats tests/bats/renew.bats` works from a source tree too.
#
# Every test gets its own scratch directory (under BATS_TEST_TMPDIR) as its
# working directory; qemu-nbd servers and listeners a test starts are
# stopped in teardown.

bats_require_minimum_version 1.5.0

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

: "${OVL_SRCDIR:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
if [[ -z "${OVL_BUILDDIR:-}" ]]; then
	for d in "$OVL_SRCDIR" "$OVL_SRCDIR/build/normal" "$OVL_SRCDIR/build"; do
		if [[ -x "$d/ovl-renew" ]]; then
			OVL_BUILDDIR=$d
			break
		fi
	done
fi
: "${OVL_BUILDDIR:=$OVL_SRCDIR}"
export OVL_SRCDIR OVL_BUILDDIR
case ":$PATH:" in
*":$OVL_BUILDDIR:"*) ;;
*) PATH="$OVL_BUILDDIR:$PATH" ;;
esac
export PATH

# The real qemu-img, before any wrapper of ours is put first on PATH.
REAL_QEMU_IMG=$(command -v qemu-img)

# Queries in tests should never take long; a hostile image must not make
# the tool wait for its default (two-minute) deadline.
export OVL_QUERY_TIMEOUT_MS=${OVL_QUERY_TIMEOUT_MS:-20000}

# ---------------------------------------------------------------------------
# Setup and teardown.

# A fresh scratch directory under this test's BATS_TEST_TMPDIR.
ovl_mktmp() {
	mktemp -d "$BATS_TEST_TMPDIR/ovl.XXXXXX"
}

ovl_setup() {
	[[ -x "$OVL_BUILDDIR/ovl-renew" ]] ||
		fail "no ovl-renew in OVL_BUILDDIR='$OVL_BUILDDIR'"
	T=$(ovl_mktmp)
	cd "$T" || return 1
	# Background helpers are recorded here so that teardown finds them
	# even when they were started from a subshell.
	OVL_PIDS_FILE="$BATS_TEST_TMPDIR/.ovl-pids"
	: >"$OVL_PIDS_FILE"
}

# Stop everything a test started: qemu-nbd servers and listeners.
ovl_teardown() {
	stop_nbd
	cd / || true
}

# ovl_setup_private_tmpdir: ovl_setup, R a scratch directory, and a TMPDIR
# of the test's own, so that a qemu-nbd socket directory left behind is seen.
ovl_setup_private_tmpdir() {
	ovl_setup
	R=$(ovl_mktmp)
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
	mkdir -p "$TMPDIR"
}

# kill_crashed_sessions: whatever still runs in the sessions listed in
# SIDS_FILE (tools the crash tests killed; a failed test may leave a
# qemu-img or qemu-nbd of theirs behind), stopped ones included.
kill_crashed_sessions() {
	local sid pid
	[[ -f "${SIDS_FILE:-}" ]] || return 0
	while read -r sid; do
		for pid in $(ps -s "$sid" -o pid= 2>/dev/null); do
			kill -CONT "$pid" 2>/dev/null || true
			kill -9 "$pid" 2>/dev/null || true
		done
	done <"$SIDS_FILE"
}

setup() { ovl_setup; }
teardown() { ovl_teardown; }

# ---------------------------------------------------------------------------
# Paths and files.

# NAME as a qemu file name operand: relative names get "./" so that
# "a:b.img" is no protocol and "-x.img" no option.
qpath() {
	case "$1" in
	/* | ./*) printf '%s' "$1" ;;
	*) printf './%s' "$1" ;;
	esac
}

# sha256 of a file's content (the file is read through stdin, so any name
# works; a symlink is followed).
sha() {
	local s
	s=$(sha256sum <"$1") || return 1
	printf '%s\n' "${s%% *}"
}

inode() {
	stat -c %i -- "$1"
}

# A listing of DIR (recursively) that changes when anything in it does:
# name, type, size, owner, mode, link target or content checksum.
snap() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z |
			while IFS= read -r -d '' f; do
				if [[ -L "$f" ]]; then
					printf '%q L -> %q\n' "$f" "$(readlink -- "$f")"
				elif [[ -f "$f" ]]; then
					printf '%q F %s %s\n' "$f" \
						"$(stat -c '%s %u:%g %a' -- "$f")" "$(sha "$f")"
				else
					printf '%q %s\n' "$f" "$(stat -c '%F %u:%g %a' -- "$f")"
				fi
			done
	)
}

# Names in DIR (ls -A), one a line, %q-quoted, sorted.
names_in() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 -maxdepth 1 -printf '%P\0' | LC_ALL=C sort -z |
			while IFS= read -r -d '' f; do printf '%q\n' "$f"; done
	)
}

# The names given, in the form names_in prints them.
names_list() {
	local f
	for f in "$@"; do printf '%s\0' "$f"; done | LC_ALL=C sort -z |
		while IFS= read -r -d '' f; do printf '%q\n' "$f"; done
}

# ---------------------------------------------------------------------------
# Images.

# make_base NAME [SIZE]: a raw image with recognisable data at its start
# and its end.
make_base() {
	local name=$1 size=${2:-16M} q
	q=$(qpath "$name")
	qemu-img create -q -f raw "$q" "$size" || return 1
	local bytes
	bytes=$(stat -c %s -- "$name")
	qemu-io -f raw -c 'write -P 0x5a 0 1M' \
		-c "write -P 0xa5 $((bytes - 65536)) 64k" "$q" >/dev/null
}

# make_overlay OVERLAY BACKING_NAME [BACKING_FMT [OPTIONS [SIZE]]]:
# a qcow2 overlay whose header records BACKING_NAME exactly as given.
make_overlay() {
	local ovl=$1 backing=$2 fmt=${3:-raw} opts=${4:-} size=${5:-}
	local -a args=(create -q -f qcow2 -b "$backing" -F "$fmt")
	[[ -n "$opts" ]] && args+=(-o "$opts")
	args+=("$(qpath "$ovl")")
	[[ -n "$size" ]] && args+=("$size")
	qemu-img "${args[@]}"
}

# A json: file name that opens FILE as qcow2 with no backing at all (the
# header's backing name, hostile or not, is never opened).
noback_json() {
	python3 -c '
import json, os, sys
print("json:" + json.dumps({"driver": "qcow2",
    "file": {"driver": "file", "filename": os.path.abspath(sys.argv[1])},
    "backing": None}))' "$1"
}

# write_data IMAGE [qemu-io command]: put data into a qcow2 overlay,
# without opening its backing file.
write_data() {
	qemu-io -c "${2:-write -P 0xab 0 64k}" "$(noback_json "$1")" >/dev/null
}

# The JSON of `qemu-img info` for one qcow2 image (no probing, no backing
# opened, no lock taken).
info_json() {
	qemu-img info -U --output=json -f "${2:-qcow2}" "$(qpath "$1")"
}

# info_field FILE FIELD [FORMAT]: one field of the info JSON; FIELD may be a
# dotted path (format-specific.data.compat).  Prints "<absent>" when the
# field is not there; booleans print as true/false.
info_field() {
	info_json "$1" "${3:-qcow2}" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    if not isinstance(v, dict) or k not in v:
        print("<absent>")
        sys.exit(0)
    v = v[k]
if isinstance(v, bool):
    print("true" if v else "false")
elif isinstance(v, (dict, list)):
    print(json.dumps(v, sort_keys=True))
else:
    print(v)
' "$2"
}

# The creation-relevant properties of a qcow2 image, one a line: what a
# renewed overlay must keep.
image_props() {
	info_json "$1" | python3 -c '
import json, sys
v = json.load(sys.stdin)
d = v.get("format-specific", {}).get("data", {})
for k in ("format", "virtual-size", "cluster-size", "backing-filename",
          "backing-filename-format"):
    print(k, json.dumps(v.get(k)))
for k in ("compat", "compression-type", "lazy-refcounts", "refcount-bits",
          "extended-l2", "data-file", "encrypt", "corrupt"):
    print(k, json.dumps(d.get(k)))
'
}

# Bytes allocated in the overlay itself (zero clusters included): the
# extents that `qemu-img map` puts at depth 0 and reports present.
overlay_allocated() {
	qemu-img map -U --output=json "$(noback_json "$1")" | python3 -c '
import json, sys
print(sum(e["length"] for e in json.load(sys.stdin)
          if e["depth"] == 0 and e["present"]))
'
}

# assert_renewed OVERLAY BASE [BASE_FMT]: OVERLAY is a clean, empty qcow2
# overlay through which the guest sees exactly BASE.
assert_renewed() {
	local ovl=$1 base=$2 fmt=${3:-raw}
	run qemu-img check -q -f qcow2 "$(qpath "$ovl")"
	assert_success
	run overlay_allocated "$ovl"
	assert_success
	assert_output 0
	run qemu-img compare -q -f qcow2 -F "$fmt" "$(qpath "$ovl")" "$(qpath "$base")"
	assert_success
}

# ---------------------------------------------------------------------------
# Background helpers.

_track_pid() { printf '%s\n' "$1" >>"$OVL_PIDS_FILE"; }

# start_nbd FILE FORMAT [ro]: qemu-nbd serving FILE (and holding its qemu
# locks) until teardown.  NBD_SOCK is its unix socket.
# shellcheck disable=SC2034
start_nbd() {
	local file=$1 fmt=$2 ro=${3:-} dir n pidf sock
	dir=$BATS_TEST_TMPDIR
	# A unix socket path must fit in 108 bytes.
	if ((${#dir} > 80)); then
		dir=$(mktemp -d /tmp/ovl-nbd.XXXXXX)
		printf 'dir %s\n' "$dir" >>"$OVL_PIDS_FILE"
	fi
	n=$(wc -l <"$OVL_PIDS_FILE")
	pidf="$dir/nbd$n.pid"
	sock="$dir/nbd$n.sock"
	local -a args=(--fork --persistent -k "$sock" -f "$fmt" --pid-file "$pidf")
	[[ "$ro" == ro ]] && args+=(-r)
	qemu-nbd "${args[@]}" "$(qpath "$file")" </dev/null >/dev/null 2>&1 3>&- ||
		fail "qemu-nbd failed to start on '$file'"
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s "$pidf" ]] && break
		sleep 0.05
	done
	[[ -s "$pidf" ]] || fail "qemu-nbd wrote no pid file"
	_track_pid "$(cat "$pidf")"
	NBD_SOCK=$sock
	# Wait until its qemu locks (OFD locks on bytes 100..) are held.
	local ino
	ino=$(stat -L -c %i -- "$file")
	for ((i = 0; i < 100; i++)); do
		grep -Eq "^[0-9]+: OFDLCK .*:$ino (1|2)[0-9][0-9] " /proc/locks && return 0
		sleep 0.05
	done
	fail "qemu-nbd does not lock '$file'"
}

# PID is running (a zombie nobody reaps does not count: its locks are gone).
_alive() {
	local state
	state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
	[[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# Stop every background process this test started (qemu-nbd, listeners).
stop_nbd() {
	[[ -n "${OVL_PIDS_FILE:-}" && -f "$OVL_PIDS_FILE" ]] || return 0
	local line pid i
	local -a dirs=()
	while IFS= read -r line; do
		case "$line" in
		dir\ *) dirs+=("${line#dir }") ;;
		*[!0-9]* | '') ;;
		*)
			# SIGTERM makes qemu-nbd linger for seconds; nothing of
			# what it serves needs a clean shutdown here.
			pid=$line
			kill -9 "$pid" 2>/dev/null || continue
			for ((i = 0; i < 100; i++)); do
				_alive "$pid" || break
				sleep 0.02
			done
			;;
		esac
	done <"$OVL_PIDS_FILE"
	: >"$OVL_PIDS_FILE"
	[[ ${#dirs[@]} -eq 0 ]] || rm -rf -- "${dirs[@]}"
}

# start_listener: a TCP listener on 127.0.0.1 that records (in the file
# $LISTEN_HITS) every connection it gets, and closes it at once.  Sets
# LISTEN_PORT.
# shellcheck disable=SC2034
start_listener() {
	LISTEN_HITS="$BATS_TEST_TMPDIR/listener.hits"
	local portf="$BATS_TEST_TMPDIR/listener.port" i
	rm -f "$LISTEN_HITS" "$portf"
	python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    with open(sys.argv[2], "a") as f:
        f.write("connection\n")
    c.close()
' "$portf" "$LISTEN_HITS" </dev/null >/dev/null 2>&1 3>&- &
	_track_pid $!
	for ((i = 0; i < 100; i++)); do
		[[ -s "$portf" ]] && break
		sleep 0.05
	done
	[[ -s "$portf" ]] || fail "listener did not start"
	LISTEN_PORT=$(cat "$portf")
}

# ---------------------------------------------------------------------------
# A qemu-img wrapper first on PATH that logs every call the tool makes.

# use_qemu_wrapper: after this, QEMU_LOG holds one line per qemu-img call
# (its subcommand), QEMU_ARGS every argument of every call, NUL-separated.
# Failures can be injected: with QEMU_WRAP_FAIL=SUBCOMMAND exported, that
# subcommand fails (exit 1) without running; with QEMU_WRAP_FAIL_AFTER it
# runs and then reports failure; with QEMU_WRAP_KILL it runs and then
# dies of SIGKILL.
use_qemu_wrapper() {
	local bin="$BATS_TEST_TMPDIR/wrapper-bin"
	QEMU_LOG="$BATS_TEST_TMPDIR/qemu-img.calls"
	QEMU_ARGS="$BATS_TEST_TMPDIR/qemu-img.args"
	mkdir -p "$bin"
	: >"$QEMU_LOG"
	: >"$QEMU_ARGS"
	cat >"$bin/qemu-img" <<EOF
#!/bin/bash
sub=
for a in "\$@"; do
	case "\$a" in -*) ;; *) sub=\$a; break ;; esac
done
printf '%s\n' "\$sub" >>'$QEMU_LOG'
printf '%s\0' "\$@" >>'$QEMU_ARGS'
if [[ -n "\$sub" && "\$sub" == "\${QEMU_WRAP_FAIL:-}" ]]; then
	echo "qemu-img: injected failure" >&2
	exit 1
fi
if [[ -n "\$sub" && "\$sub" == "\${QEMU_WRAP_FAIL_AFTER:-}" ]]; then
	'$REAL_QEMU_IMG' "\$@"
	echo "qemu-img: injected failure after the work was done" >&2
	exit 1
fi
if [[ -n "\$sub" && "\$sub" == "\${QEMU_WRAP_KILL:-}" ]]; then
	'$REAL_QEMU_IMG' "\$@"
	kill -9 \$\$
fi
exec '$REAL_QEMU_IMG' "\$@"
EOF
	chmod +x "$bin/qemu-img"
	PATH="$bin:$PATH"
	export PATH QEMU_LOG QEMU_ARGS
}

# The qemu-img calls that write an image, from the wrapper's log.
qemu_writes() {
	grep -Ex 'create|commit|rebase|amend|convert|resize|snapshot|bitmap|dd' \
		"$QEMU_LOG" || true
}

# ---------------------------------------------------------------------------
# Running the tool.

# run_renew ARGS...: run ovl-renew (bounded in time) with stdout in $output
# and stderr in $stderr.
run_renew() {
	run --separate-stderr timeout 30 ovl-renew "$@"
}

# The tool's error messages: "ovl-renew: ..." naming the file.
assert_error_names() {
	local name=$1
	[[ -n "$stderr" ]] || fail "nothing on stderr"
	[[ "$stderr" == "ovl-renew: "* ]] ||
		fail "stderr does not start with 'ovl-renew: ': $stderr"
	[[ "$stderr" == *"$name"* ]] ||
		fail "stderr does not name '$name': $stderr"
}

# ---------------------------------------------------------------------------
# The ovl-undo suites.

# run_undo ARGS...: run ovl-undo (bounded in time) with stdout in $output
# and stderr in $stderr.
run_undo() {
	run --separate-stderr timeout 120 ovl-undo "$@"
}

# uri_path PATH: PATH percent-encoded for a sqlite file: URI.
uri_path() {
	local LC_ALL=C s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case "$c" in
		[A-Za-z0-9/._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# store_sql STORE QUERY: QUERY on STORE's history database, opened
# read-only and immutable (nothing is written beside it).
store_sql() {
	command -v sqlite3 >/dev/null || fail "sqlite3 is needed (scripts/deps.sh)"
	sqlite3 -batch -noheader "file:$(uri_path "$1/history.db")?immutable=1" "$2"
}

# The state STORE says its base is in.
store_head() {
	store_sql "$1" "SELECT value FROM meta WHERE key = 'head'"
}

# qio IMAGE FORMAT CMD...: qemu-io commands on IMAGE as the guest would run
# them (a qcow2 overlay opened with its backing chain, so sub-cluster writes
# copy the rest of the cluster from the base).
qio() {
	local img=$1 fmt=$2 c
	shift 2
	local -a args=(-f "$fmt")
	for c in "$@"; do args+=(-c "$c"); done
	qemu-io "${args[@]}" "$(qpath "$img")" >/dev/null
}

# virtual_size IMAGE FORMAT: its virtual size in bytes.
virtual_size() {
	qemu-img info -U -f "$2" "$(qpath "$1")" |
		sed -n 's/^virtual size: .*(\([0-9]*\) bytes)$/\1/p'
}

# raw_ref IMAGE FORMAT REF: a raw copy of what IMAGE reads (through its
# backing chain, for an overlay).
raw_ref() {
	rm -f -- "$3"
	qemu-img convert -U -f "$2" -O raw "$(qpath "$1")" "$(qpath "$3")"
}

# assert_reads_like IMAGE FORMAT REF: IMAGE has REF's virtual size and
# reads exactly like the raw image REF.
assert_reads_like() {
	local got want
	got=$(virtual_size "$1" "$2")
	want=$(virtual_size "$3" raw)
	[[ "$got" == "$want" ]] ||
		fail "'$1' is $got bytes, '$3' is $want bytes"
	run qemu-img compare -U -f "$2" -F raw "$(qpath "$1")" "$(qpath "$3")"
	[[ "$status" -eq 0 ]] ||
		fail "'$1' does not read like '$3' (qemu-img compare: $status $output)"
}

# assert_overlay_empty OVERLAY BASE BASE_FMT: OVERLAY is a clean qcow2
# overlay with nothing allocated in it (zero clusters included), through
# which the guest sees BASE.  Like assert_renewed, for trusted images (the
# backing chain is opened as the header says) and without python.
assert_overlay_empty() {
	local ovl=$1 base=$2 fmt=${3:-raw} map
	run qemu-img check -q -f qcow2 "$(qpath "$ovl")"
	[[ "$status" -eq 0 ]] || fail "qemu-img check of '$ovl' failed: $output"
	map=$(qemu-img map -U --output=json -f qcow2 "$(qpath "$ovl")") ||
		fail "qemu-img map of '$ovl' failed"
	if grep -E '"depth": 0, "present": true' <<<"$map" >/dev/null; then
		fail "'$ovl' holds data: $map"
	fi
	run qemu-img compare -U -q -f qcow2 -F "$fmt" "$(qpath "$ovl")" "$(qpath "$base")"
	[[ "$status" -eq 0 ]] || fail "'$ovl' does not read like '$base': $output"
}

# assert_no_leftovers DIR...: nothing an ovl tool makes for a while is left
# in the DIRs (.ovl-tmp-* files) nor in $TMPDIR (ovl-nbd.* socket
# directories).
assert_no_leftovers() {
	local d left
	for d in "$@"; do
		left=$(find "$d" -name '.ovl-tmp-*' -print)
		[[ -z "$left" ]] || fail "left behind: $left"
	done
	if [[ -n "${TMPDIR:-}" && -d "$TMPDIR" ]]; then
		left=$(find "$TMPDIR" -maxdepth 1 -name 'ovl-nbd.*' -print)
		[[ -z "$left" ]] || fail "left behind in TMPDIR: $left"
	fi
}
