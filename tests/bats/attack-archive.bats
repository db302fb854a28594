#!/usr/bin/env bats
# Archives are the store's own inodes, judged and digest-checked before
# their data rebuilds a base; the files ovl hands qemu-img cannot be
# swapped for a link to a file of root's.
#
# The attacker owns the VM: its directory, its base and its overlay.  Root
# runs ordinary ovl commands; the store (BASE.history) is root's.

load helpers
load attacker

setup() {
	ovl_setup
	attacker_setup
}

teardown() {
	attacker_teardown
	ovl_teardown
}

# The attacker's VM in $ATK/user: base.img (raw, 16M) and vm.ovl holding
# data, both the attacker's.
atk_vm() {
	cd "$ATK/user" || return 1
	make_base base.img 16M
	make_overlay vm.ovl "$ATK/user/base.img" raw
	write_data vm.ovl 'write -P 0x11 0 192k'
	atk_own base.img vm.ovl
	STORE=$ATK/user/base.img.history
	ARCHIVE1=$STORE/commits/00000001.qcow2
}

# A history of two commits (the second one's data over the first's).
atk_history() {
	atk_vm
	run timeout 60 ovl-commit -q vm.ovl
	assert_success
	write_data vm.ovl 'write -P 0x22 64k 192k'
	atk_own vm.ovl
	run timeout 60 ovl-commit -q vm.ovl
	assert_success
	ARCHIVE2=$STORE/commits/00000002.qcow2
}

# The archive is a file of root's, 0600, with one link.
assert_store_owned() {
	[[ "$(stat -c '%u %a %h' -- "$1")" == "0 600 1" ]] ||
		fail "'$1' is $(stat -c '%u %a %h' -- "$1") (uid mode links)"
}

# The command failed with exit 1, naming FILE in an "ovl-TOOL: " message.
assert_refused_naming() {
	local file=$1
	[[ "$status" -eq 1 ]] || fail "exit $status, not 1: $stderr"
	[[ "$stderr" == *"$file"* ]] || fail "stderr does not name '$file': $stderr"
}

# ------------------------------------------------------------ (a), (b)

@test "an attacker's second hard link to the overlay cannot change the archive" {
	atk_vm
	# Out of the base's directory, where it would be a second overlay.
	as_attacker mkdir hide
	as_attacker ln vm.ovl hide/keep
	before=$(victim_sum)
	run timeout 60 ovl-commit -q vm.ovl
	assert_success
	assert_store_owned "$ARCHIVE1"
	sum=$(sha "$ARCHIVE1")
	[[ "$(inode "$ARCHIVE1")" != "$(inode hide/keep)" ]] || fail "the archive is the attacker's inode"
	as_attacker dd if=/dev/urandom of=hide/keep bs=64k seek=3 count=4 conv=notrunc status=none
	[[ "$(sha "$ARCHIVE1")" == "$sum" ]] || fail "the archive changed through the attacker's link"
	run --separate-stderr timeout 60 ovl-history verify base.img
	assert_success
	[[ "$(victim_sum)" == "$before" ]]
}

@test "an attacker's open descriptor on the overlay cannot change the archive" {
	atk_vm
	# The attacker holds vm.ovl open read-write across the commit, then
	# writes through that descriptor (not through any name).
	as_attacker bash -c 'exec 3<>vm.ovl
		while [[ ! -e go ]]; do sleep 0.05; done
		python3 -c "import os; os.pwrite(3, os.urandom(262144), 196608)"
		touch written; sleep 60' 2>"$BATS_TEST_TMPDIR/holder.err" &
	holder=$!
	_track_pid "$holder"
	sleep 0.3
	run timeout 60 ovl-commit -q vm.ovl
	assert_success
	assert_store_owned "$ARCHIVE1"
	sum=$(sha "$ARCHIVE1")
	as_attacker touch go
	for _ in $(seq 400); do [[ -e written ]] && break; sleep 0.05; done
	[[ -e written ]] || fail "the attacker's write did not happen: $(cat "$BATS_TEST_TMPDIR/holder.err")"
	kill "$holder" 2>/dev/null || true
	[[ "$(sha "$ARCHIVE1")" == "$sum" ]] || fail "the archive changed through the attacker's descriptor"
	run --separate-stderr timeout 60 ovl-history verify base.img
	assert_success
}

@test "a root-owned overlay with one link is archived by hard link (the fast path)" {
	make_base base.img 16M
	make_overlay vm.ovl "$PWD/base.img" raw
	write_data vm.ovl
	ino=$(inode vm.ovl)
	run timeout 60 ovl-commit -q vm.ovl
	assert_success
	[[ "$(inode base.img.history/commits/00000001.qcow2)" == "$ino" ]] ||
		fail "the archive is a copy, not the overlay's own inode"
}

@test "a root-owned overlay that others may write is copied, not linked" {
	make_base base.img 16M
	make_overlay vm.ovl "$PWD/base.img" raw
	write_data vm.ovl
	chmod 0666 vm.ovl
	ino=$(inode vm.ovl)
	run timeout 60 ovl-commit -q vm.ovl
	assert_success
	[[ "$(inode base.img.history/commits/00000001.qcow2)" != "$ino" ]]
	assert_store_owned base.img.history/commits/00000001.qcow2
}

# ------------------------------------------------------------ (c)

# A qemu-img wrapper that, when ovl runs `qemu-img SUB`, swaps every
# .ovl-tmp-* name and (SWAP_BASE=1) base.img in $ATK/user for a symlink
# to $VICTIM, as the attacker, then runs the real qemu-img.
swap_wrapper() {
	local sub=$1 bin="$BATS_TEST_TMPDIR/swap-bin"
	mkdir -p "$bin"
	cat >"$bin/qemu-img" <<EOF
#!/bin/bash
sub=
for a in "\$@"; do case "\$a" in -*) ;; *) sub=\$a; break ;; esac; done
if [[ "\$sub" == '$sub' ]]; then
	cd '$ATK/user'
	for f in .ovl-tmp-* \${SWAP_BASE:+base.img}; do
		[[ -e "\$f" ]] || continue
		setpriv --reuid=$ATK_UID --regid=$ATK_GID --clear-groups -- \
			bash -c 'mv -f -- "\$1" "\$1.moved" && ln -s -- "\$2" "\$1"' _ "\$f" '$VICTIM'
		echo "\$f" >>'$BATS_TEST_TMPDIR/swapped'
	done
fi
exec '$REAL_QEMU_IMG' "\$@"
EOF
	chmod +x "$bin/qemu-img"
	PATH="$bin:$PATH"
}

# Success on ovl's own file, or a clear exit 1; the victim unchanged.
assert_swap_harmless() {
	local before=$1
	[[ -s "$BATS_TEST_TMPDIR/swapped" ]] || fail "the wrapper swapped nothing"
	[[ "$(victim_sum)" == "$before" ]] || fail "the victim was written"
	[[ "$status" -eq 0 || "$status" -eq 1 ]] || fail "exit $status: $stderr"
	if [[ "$status" -eq 1 ]]; then
		[[ "$stderr" == ovl-* ]] || fail "no clear message: $stderr"
	fi
}

@test "renew: the temporary overlay swapped for a link as qemu-img create starts" {
	atk_vm
	before=$(victim_sum)
	swap_wrapper create
	run --separate-stderr timeout 60 ovl-renew --discard vm.ovl
	assert_swap_harmless "$before"
	assert_failure 1
	assert_refused_naming vm.ovl
	[[ "$stderr" == *"replaced by another file"* ]] || fail "$stderr"
}

@test "commit: the base swapped for a link as qemu-img commit starts" {
	atk_vm
	before=$(victim_sum)
	swap_wrapper commit
	SWAP_BASE=1 run --separate-stderr timeout 60 ovl-commit -q vm.ovl
	assert_swap_harmless "$before"
	grep -qx base.img "$BATS_TEST_TMPDIR/swapped" || fail "base.img was not swapped"
}

@test "commit: the replacement overlay swapped while qemu-img commit runs" {
	atk_vm
	before=$(victim_sum)
	swap_wrapper create
	run --separate-stderr timeout 60 ovl-commit -q vm.ovl
	assert_swap_harmless "$before"
}

@test "undo --method=replay: the rebuilt base swapped for a link as qemu-img commit starts" {
	atk_history
	before=$(victim_sum)
	swap_wrapper commit
	run --separate-stderr timeout 120 ovl-undo -q --method=replay vm.ovl
	assert_swap_harmless "$before"
}

# ------------------------------------------------------------ (d)

# Tamper with ARCHIVE as KIND: flip (a byte of a data cluster), datafile
# (the external data file bit in the header), truncate.
tamper() {
	local file=$1 kind=$2
	case $kind in
	flip)
		# The first data cluster: host offset of guest offset 0.
		local off
		off=$(qemu-img map -U --output=json -f qcow2 "$file" |
			python3 -c 'import json,sys; print([e for e in json.load(sys.stdin) if e.get("data") and e["depth"] == 0 and "offset" in e][0]["offset"])')
		printf '\x5c' | dd of="$file" bs=1 seek=$((off + 100)) conv=notrunc status=none
		;;
	datafile)
		# incompatible_features (offset 72, big-endian 64-bit): bit 2.
		printf '\x04' | dd of="$file" bs=1 seek=79 conv=notrunc status=none
		;;
	truncate)
		truncate -s 196608 "$file"
		;;
	esac
}

# Each reader of archives on a store whose ARCHIVE was tampered with KIND:
# exit 1 naming it, the base unchanged.
refuse_all() {
	local kind=$1 sum
	atk_history
	tamper "$ARCHIVE1" "$kind"
	sum=$(sha base.img)
	run --separate-stderr timeout 120 ovl-undo --method=replay --discard-overlay --to 1 vm.ovl
	assert_refused_naming "$ARCHIVE1"
	run --separate-stderr timeout 120 ovl-history prune --keep-last 1 base.img
	assert_refused_naming "$ARCHIVE1"
	[[ "$(sha base.img)" == "$sum" ]] || fail "the base changed"
	# Extents to state 0 read the pristine copy only; back to state 1
	# they read archive 1 (where commit 2 did not overwrite it).
	run --separate-stderr timeout 120 ovl-undo --discard-overlay --to 0 vm.ovl
	assert_success
	sum=$(sha base.img)
	run --separate-stderr timeout 120 ovl-undo --discard-overlay --to 1 vm.ovl
	assert_refused_naming "$ARCHIVE1"
	run --separate-stderr timeout 120 ovl-undo --method=replay --discard-overlay --to 2 vm.ovl
	assert_refused_naming "$ARCHIVE1"
	[[ "$(sha base.img)" == "$sum" ]] || fail "the base changed"
}

@test "a data cluster flipped in an archive: undo, prune refuse it, naming it" {
	refuse_all flip
	[[ "$stderr" == *"archive does not match its logged digest: refused"* ]] || fail "$stderr"
}

@test "an external data file bit set in an archive's header: refused" {
	refuse_all datafile
}

@test "a truncated archive: refused" {
	refuse_all truncate
}

@test "default undo reads and checks only the archives its plan reads" {
	atk_history
	write_data vm.ovl 'write -P 0x33 4M 64k'
	atk_own vm.ovl
	run timeout 60 ovl-commit -q vm.ovl
	assert_success
	# Commit 3 wrote only at 4M: undoing it reads the pristine copy, not
	# archive 1 (tampered) nor 2.
	tamper "$ARCHIVE1" flip
	run --separate-stderr timeout 120 ovl-undo -q vm.ovl
	assert_success
	run --separate-stderr timeout 120 ovl-undo -q --to 1 vm.ovl
	assert_refused_naming "$ARCHIVE1"
	[[ "$stderr" == *"ovl-undo: '$ARCHIVE1': archive does not match its logged digest: refused"* ]] ||
		fail "$stderr"
}

@test "a tampered pristine copy: replay refuses it" {
	atk_history
	printf 'X' | dd of="$STORE/pristine.raw" bs=1 seek=100 conv=notrunc status=none
	sum=$(sha base.img)
	run --separate-stderr timeout 120 ovl-undo --method=replay --discard-overlay --to 1 vm.ovl
	assert_refused_naming "$STORE/pristine.raw"
	[[ "$stderr" == *"pristine copy does not match its logged digest: refused"* ]] || fail "$stderr"
	[[ "$(sha base.img)" == "$sum" ]]
}

@test "recovery of an interrupted commit judges the archive before committing it" {
	atk_vm
	OVL_TEST_CRASH=commit:commit run timeout 60 ovl-commit -q vm.ovl
	[[ "$status" -ne 0 ]]
	[[ -f "$ARCHIVE1" ]] || fail "no archive after the crash"
	tamper "$ARCHIVE1" datafile
	sum=$(sha base.img)
	run --separate-stderr timeout 60 ovl-commit -q vm.ovl
	assert_refused_naming "$ARCHIVE1"
	[[ "$(sha base.img)" == "$sum" ]] || fail "the base changed"
}

@test "recovery of an interrupted commit refuses an archive changed since its digest was logged" {
	atk_vm
	OVL_TEST_CRASH=commit:renew run timeout 60 ovl-commit -q vm.ovl
	[[ "$status" -ne 0 ]]
	tamper "$ARCHIVE1" flip
	run --separate-stderr timeout 60 ovl-commit -q vm.ovl
	assert_refused_naming "$ARCHIVE1"
	[[ "$stderr" == *"archive does not match its logged digest: refused"* ]] || fail "$stderr"
}

@test "recovery of an interrupted undo checks the archives before writing" {
	atk_history
	OVL_TEST_CRASH=undo:write run timeout 60 ovl-undo -q --method=replay --discard-overlay --to 1 vm.ovl
	[[ "$status" -ne 0 ]]
	tamper "$ARCHIVE1" flip
	sum=$(sha base.img)
	run --separate-stderr timeout 120 ovl-undo -q --discard-overlay vm.ovl
	assert_refused_naming "$ARCHIVE1"
	[[ "$(sha base.img)" == "$sum" ]] || fail "the base changed"
}

@test "diff refuses a tampered archive (libguestfs)" {
	if [[ -f "$OVL_BUILDDIR/config.h" ]] &&
		! grep -q '^#define HAVE_LIBGUESTFS 1' "$OVL_BUILDDIR/config.h"; then
		skip "ovl was built without libguestfs"
	fi
	atk_history
	tamper "$ARCHIVE1" flip
	# The check comes before any appliance starts: no libguestfs run here.
	run --separate-stderr timeout 120 ovl-history diff 2 base.img
	assert_refused_naming "$ARCHIVE1"
}
