#!/usr/bin/env bats
# Untrusted text never reaches a terminal raw (issue #10 item 8): names an
# attacker chose, messages and tags, qemu-img's own error text and guest
# file names come out of every tool with C0 and C1 controls, ESC, DEL and
# invalid UTF-8 escaped by the one rule of report.h (\xNN for a byte,
# \uNNNN for a control character), and --output=json stays valid JSON
# with every field and every verify problem (text that is not UTF-8:
# U+FFFD in the field, the exact bytes in FIELD_bytes, jsonout.h).

load helpers
load attacker

setup() {
	ovl_setup
	attacker_setup
	OUT=$BATS_TEST_TMPDIR/stdout
	ERR=$BATS_TEST_TMPDIR/stderr
}

teardown() {
	[[ -n "${AO_TMP:-}" ]] && rm -rf -- "$AO_TMP"
	attacker_teardown
	ovl_teardown
}

# The hostile pieces: an OSC that retitles the terminal, a clear screen,
# CSI as a C1 character (UTF-8) and as a raw byte, and bytes that are not
# UTF-8 at all.
OSC=$'\e]0;pwned\a'
CLEAR=$'\e[2J'
C1=$'\xc2\x9b'
RAW=$'\x9b'
BAD=$'\xff\xfe'

# run_files CMD...: run CMD (bounded in time: RUN_TIMEOUT seconds, 120 by
# default) with stdout in $OUT, stderr in $ERR, its exit status in $status.
run_files() {
	status=0
	timeout "${RUN_TIMEOUT:-120}" "$@" >"$OUT" 2>"$ERR" || status=$?
	[[ $status -ne 124 ]] || fail "$* did not finish in time"
}

# assert_terminal_safe FILE...: each is UTF-8 with no control character
# but the newline (no ESC, no other C0, no DEL, no C1).
assert_terminal_safe() {
	python3 - "$@" <<'PY' || fail "raw control characters or bad UTF-8 reach the terminal"
import sys
bad = False
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        print(f"{path}: not UTF-8: {e}: {data!r}", file=sys.stderr)
        bad = True
        continue
    for i, ch in enumerate(text):
        o = ord(ch)
        if (o < 0x20 and ch != "\n") or 0x7F <= o <= 0x9F:
            print(f"{path}: U+{o:04X} at {i}: {text!r}", file=sys.stderr)
            bad = True
            break
sys.exit(1 if bad else 0)
PY
}

# assert_file_has FILE TEXT: FILE holds TEXT (a fixed string).
assert_file_has() {
	grep -qF -- "$2" "$1" || fail "$1 does not hold '$2': $(cat -v "$1")"
}

# json_check FILE PYTHON: FILE parses as JSON (python3 -m json.tool) and
# the Python statements hold with the document as d and B(s) the bytes a
# FIELD_bytes string stands for.
json_check() {
	python3 -m json.tool "$1" >/dev/null || fail "not JSON: $(cat -v "$1")"
	python3 - "$1" "$2" <<'PY' || fail "JSON check failed: $2: $(cat -v "$1")"
import json, sys
d = json.load(open(sys.argv[1]))
B = lambda s: s.encode("latin-1")
exec(sys.argv[2])
PY
}

# The escaped forms of the hostile pieces, as report.h writes them.
E_OSC='\x1b]0;pwned\x07'
E_CLEAR='\x1b[2J'
E_C1='\u009b'
E_RAW='\x9b'
E_BAD='\xff\xfe'

# ---------------------------------------------------------------------------

@test "an attacker's overlay and base named with ESC, newlines and C1: commit, list, show, verify escape them" {
	local d=$ATK/user before
	local base=$d/b${OSC}$'\n'${C1}.img ovl=$d/vm${CLEAR}$'\n'${RAW}${BAD}.ovl
	as_attacker qemu-img create -q -f raw "$base" 64M
	as_attacker qemu-img create -q -f qcow2 -b "$base" -F raw "$ovl"
	as_attacker qemu-io -f qcow2 -c 'write -P 0x11 1M 64k' "$ovl" >/dev/null
	before=$(victim_sum)

	run_files ovl-commit -m note "$ovl"
	assert_terminal_safe "$OUT" "$ERR"
	# Whether root may commit this overlay is another issue's; either way
	# its name was told, escaped.
	cat "$OUT" "$ERR" >"$BATS_TEST_TMPDIR/both"
	assert_file_has "$BATS_TEST_TMPDIR/both" "vm${E_CLEAR}\\n${E_RAW}${E_BAD}.ovl"
	assert_equal "$(victim_sum)" "$before"
	echo "# commit of the attacker's overlay: exit $status" >&3
	if [[ $status -eq 0 ]]; then
		assert_file_has "$OUT" "b${E_OSC}\\n${E_C1}.img"
		for sub in list "show 1" verify; do
			# shellcheck disable=SC2086 # sub is one or two words
			run_files ovl-history $sub "$ovl"
			assert_terminal_safe "$OUT" "$ERR"
			# shellcheck disable=SC2086
			run_files ovl-history --output=json $sub "$ovl"
			assert_terminal_safe "$OUT" "$ERR"
			python3 -m json.tool "$OUT" >/dev/null || fail "$sub: not JSON: $(cat -v "$OUT")"
		done
		run_files ovl-history --output=json list "$ovl"
		json_check "$OUT" "assert d['base'].endswith('/b\x1b]0;pwned\x07\n\x9b.img'), d; assert 'base_bytes' not in d"
	else
		assert_equal "$status" 1
	fi
}

@test "-m and --tag with ESC sequences, C1 and bad bytes: human output escaped, JSON has them whole" {
	make_base base.img 64M
	make_overlay vm.ovl base.img raw
	qio vm.ovl qcow2 'write -P 0x11 1M 64k'
	local msg="m ${OSC} ${CLEAR} ${C1} ${RAW} ${BAD} end" tag="t${CLEAR}${RAW}"
	local want_msg="m ${E_OSC} ${E_CLEAR} ${E_C1} ${E_RAW} ${E_BAD} end"
	local py_msg="b'm \\x1b]0;pwned\\x07 \\x1b[2J \\xc2\\x9b \\x9b \\xff\\xfe end'"
	local py_tag="b't\\x1b[2J\\x9b'"

	run_files ovl-commit --output=json -m "$msg" --tag "$tag" vm.ovl
	assert_equal "$status" 0
	assert_terminal_safe "$OUT" "$ERR"
	json_check "$OUT" "assert d['seq'] == 1 and d['status'] == 0, d"

	run_files ovl-history list vm.ovl
	assert_equal "$status" 0
	assert_terminal_safe "$OUT" "$ERR"
	assert_file_has "$OUT" "t${E_CLEAR}${E_RAW}  ${want_msg}"
	run_files ovl-history show 1 vm.ovl
	assert_terminal_safe "$OUT" "$ERR"
	assert_file_has "$OUT" "message:    ${want_msg}"
	assert_file_has "$OUT" "tag:        t${E_CLEAR}${E_RAW}"

	run_files ovl-history --output=json list vm.ovl
	assert_terminal_safe "$OUT" "$ERR"
	json_check "$OUT" "c = d['commits'][0]
assert c['message'] == 'm \x1b]0;pwned\x07 \x1b[2J \x9b \ufffd \ufffd\ufffd end', c
assert B(c['message_bytes']) == $py_msg, c
assert c['tag'] == 't\x1b[2J\ufffd' and B(c['tag_bytes']) == $py_tag, c"
	run_files ovl-history --output=json show 1 vm.ovl
	assert_terminal_safe "$OUT" "$ERR"
	json_check "$OUT" "assert B(d['message_bytes']) == $py_msg and B(d['tag_bytes']) == $py_tag, d
assert all(k in d for k in ('seq', 'time', 'size', 'state', 'archive', 'digest')), d"

	# A tag taken, and a dry run that names one: told escaped.
	run_files ovl-history tag -n 1 "x${OSC}${RAW}" vm.ovl
	assert_equal "$status" 0
	assert_terminal_safe "$OUT" "$ERR"
	assert_file_has "$OUT" "'x${E_OSC}${E_RAW}'"
	qio vm.ovl qcow2 'write -P 0x12 2M 64k'
	ovl-commit -q -m two vm.ovl
	run_files ovl-history tag 2 "$tag" vm.ovl
	assert_equal "$status" 1
	assert_terminal_safe "$OUT" "$ERR"
	assert_file_has "$ERR" "'t${E_CLEAR}${E_RAW}'"
}

@test "qemu-img's own error text: a corrupt overlay an attacker named with escapes" {
	local ovl=$ATK/user/vm${OSC}${C1}.ovl before
	# A qcow2 header of a version qemu-img does not know: its error quotes
	# the file name.
	qemu-img create -q -f qcow2 "$BATS_TEST_TMPDIR/x.qcow2" 16M
	python3 - "$BATS_TEST_TMPDIR/x.qcow2" "$ovl" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[4:8] = (9).to_bytes(4, "big")
open(sys.argv[2], "wb").write(d)
PY
	atk_own "$ovl"
	before=$(victim_sum)
	for tool in ovl-commit ovl-renew ovl-history; do
		run_files "$tool" "$ovl"
		assert_equal "$status" 1
		assert_terminal_safe "$OUT" "$ERR"
		assert_file_has "$ERR" "vm${E_OSC}${E_C1}.ovl"
	done
	assert_equal "$(victim_sum)" "$before"
}

@test "qemu-img's own error text with escapes in it is relayed escaped" {
	make_base base.img 64M
	make_overlay vm.ovl base.img raw
	qio vm.ovl qcow2 'write -P 0x11 1M 64k'
	local bin=$BATS_TEST_TMPDIR/evil-bin
	mkdir -p "$bin"
	# A qemu-img whose commit fails with a message full of escapes.
	cat >"$bin/qemu-img" <<EOF
#!/bin/bash
for a in "\$@"; do
	case "\$a" in -*) ;; *) sub=\$a; break ;; esac
done
if [[ "\$sub" == commit ]]; then
	printf 'qemu-img: bad ${OSC}${CLEAR}${C1}${RAW}${BAD}\ttab\rcr\x7f end\n' >&2
	exit 1
fi
exec '$REAL_QEMU_IMG' "\$@"
EOF
	chmod +x "$bin/qemu-img"
	PATH=$bin:$PATH run_files ovl-commit vm.ovl
	assert_equal "$status" 1
	assert_terminal_safe "$OUT" "$ERR"
	assert_file_has "$ERR" "bad ${E_OSC}${E_CLEAR}${E_C1}${E_RAW}${E_BAD}\\ttab\\x0dcr\\x7f end"
	# The same without history (a base of its own: that one has a store).
	make_base base2.img 64M
	make_overlay vm2.ovl base2.img raw
	qio vm2.ovl qcow2 'write -P 0x11 1M 64k'
	PATH=$bin:$PATH run_files ovl-commit --no-history vm2.ovl
	assert_equal "$status" 1
	assert_terminal_safe "$OUT" "$ERR"
	assert_file_has "$ERR" "bad ${E_OSC}"
}

@test "verify: a stray file with an escaping, non-UTF-8 name in a non-UTF-8 store is one problem, in JSON too" {
	make_base base.img 64M
	make_overlay vm.ovl base.img raw
	qio vm.ovl qcow2 'write -P 0x11 1M 64k'
	local store=$PWD/st${CLEAR}${BAD}
	ovl-commit -q --store "$store" -m one vm.ovl
	# Damage the store: a file no commit names, its name hostile.
	echo junk >"$store/commits/x${OSC}${RAW}"$'\n'
	run_files ovl-history --store "$store" verify vm.ovl
	assert_equal "$status" 1
	assert_terminal_safe "$OUT" "$ERR"
	assert_file_has "$ERR" "x${E_OSC}${E_RAW}\\n"
	run_files ovl-history --store "$store" --output=json verify vm.ovl
	assert_equal "$status" 1
	assert_terminal_safe "$OUT"
	json_check "$OUT" "assert d['sound'] is False, d
assert B(d['store_bytes']).endswith(b'/st\x1b[2J\xff\xfe'), d
ps = d['problems']
assert len(ps) == 1 and all('file' in p and 'problem' in p for p in ps), ps
assert B(ps[0]['file_bytes']).endswith(b'/commits/x\x1b]0;pwned\x07\x9b\n'), ps"
	# list names the same store whole
	run_files ovl-history --store "$store" --output=json list vm.ovl
	json_check "$OUT" "assert B(d['store_bytes']).endswith(b'/st\x1b[2J\xff\xfe') and len(d['commits']) == 1, d"
}

# guest_disk IMAGE TREE: a raw disk with one ext4 partition holding TREE.
guest_disk() {
	rm -f -- "$1"
	truncate -s 40M "$1" || return 1
	printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$1" || return 1
	mke2fs -q -t ext4 -E offset=$((2048 * 512)) -d "$2" "$1" 38M
}

@test "guest file names with ESC sequences, C1 and bad bytes: diff escapes them, JSON has them whole" {
	grep -q '^#define HAVE_LIBGUESTFS 1' "$OVL_BUILDDIR/config.h" 2>/dev/null ||
		skip "ovl was built without libguestfs"
	export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
	export LIBGUESTFS_CACHEDIR=${LIBGUESTFS_CACHEDIR:-/var/tmp}
	# Short, for the tool's sockets (as in diff.bats).
	AO_TMP=$(mktemp -d /tmp/ovl-ao.XXXXXX)
	export TMPDIR=$AO_TMP
	local t=$PWD/tree
	mkdir -p "$t/etc"
	echo keep >"$t/etc/keep"
	guest_disk base.img "$t"
	qemu-img create -q -f qcow2 -b "$PWD/base.img" -F raw vm.ovl
	# What the guest wrote: names chosen to hurt whoever lists them.
	echo 1 >"$t/etc/evil${OSC}${CLEAR}"
	echo 2 >"$t/etc/c1${C1}x"
	echo 3 >"$t/etc/raw${RAW}bad${BAD}"
	echo 4 >"$t/etc/nl"$'\n'"name"
	guest_disk next.raw "$t"
	rm -f vm.ovl
	qemu-img convert -q -f raw -O qcow2 -B "$PWD/base.img" -F raw next.raw vm.ovl
	ovl-commit -q -m one vm.ovl

	# The first run may build libguestfs's appliance: minutes.
	RUN_TIMEOUT=900 run_files ovl-history diff 1 vm.ovl
	if [[ $status -ne 0 ]] && ! timeout 900 libguestfs-test-tool >/dev/null 2>&1; then
		skip "libguestfs appliance does not start here"
	fi
	assert_equal "$status" 0
	assert_terminal_safe "$OUT" "$ERR"
	assert_file_has "$OUT" "A /etc/evil${E_OSC}${E_CLEAR}"
	assert_file_has "$OUT" "A /etc/c1${E_C1}x"
	assert_file_has "$OUT" "A /etc/raw${E_RAW}bad${E_BAD}"
	assert_file_has "$OUT" "A /etc/nl\\nname"
	RUN_TIMEOUT=600 run_files ovl-history --output=json diff 1 vm.ovl
	assert_equal "$status" 0
	assert_terminal_safe "$OUT" "$ERR"
	json_check "$OUT" "fs = d['filesystems'][0]
added = fs['added']
assert '/etc/evil\x1b]0;pwned\x07\x1b[2J' in added and '/etc/c1\x9bx' in added, fs
assert '/etc/nl\nname' in added and '/etc/raw\ufffdbad\ufffd\ufffd' in added, fs
raw = [B(b) for b in fs['added_bytes'] if b is not None]
assert raw == [b'/etc/raw\x9bbad\xff\xfe'], fs
assert len(fs['added_bytes']) == len(added), fs"
}
