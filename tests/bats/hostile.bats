#!/usr/bin/env bats
# ovl-renew and hostile images: every class is refused (exit 1) before
# anything is written.  A victim file stands for the host file an attack
# would reach; qemu-img runs through a logging wrapper so that the tests
# can tell that no writing qemu-img command was ever started.

load helpers

setup() {
	ovl_setup
	make_base base.img 4M
	head -c 65536 /dev/urandom >victim
	VICTIM="$PWD/victim"
	use_qemu_wrapper
}

# An overlay on base.img whose header records backing name BACKING and
# backing format FMT, created without opening the backing.
hostile_overlay() {
	local ovl=$1 backing=$2 fmt=${3:-raw}
	qemu-img create -q -f qcow2 -u -b "$backing" -F "$fmt" "$(qpath "$ovl")" 16M
}

# assert_refused OPERAND [OPTIONS...]: ovl-renew OPTIONS OPERAND exits 1,
# names the operand (or $CULPRIT, the image in the chain at fault), and the
# directory (victim, overlay, base) is exactly as it was; no writing
# qemu-img command ran.
assert_refused() {
	local ovl=$1 before
	shift
	before=$(snap .)
	: >"$QEMU_LOG"
	run_renew "$@" "$ovl"
	[[ -z "${OVL_TEST_DEBUG:-}" ]] || printf '# %s\n' "$stderr" >&3
	[[ $status -ne 124 ]] || fail "ovl-renew $* $ovl timed out"
	assert_failure 1
	if [[ -n "${CULPRIT:-}" ]]; then
		[[ "$stderr" == "ovl-renew: "* && ( "$stderr" == *"$CULPRIT"* ||
			"$stderr" == *"$(basename -- "$ovl")"* ) ]] ||
			fail "stderr names neither '$CULPRIT' nor '$ovl': $stderr"
	else
		assert_error_names "$(basename -- "$ovl")"
	fi
	assert_equal "$(snap .)" "$before"
	assert_equal "$(qemu_writes)" ""
}

# Refused as it is, with --discard and with --dry-run.
assert_refused_all_modes() {
	local ovl=$1
	assert_refused "$ovl"
	assert_refused "$ovl" --discard
	assert_refused "$ovl" --dry-run
}

# ---------------------------------------------------------------------------
# Backing names that are not plain file names.

@test "json: backing name naming a host file is refused" {
	local v=$VICTIM name
	for name in \
		"json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":\"$v\"}}" \
		"json:{\"file.driver\":\"file\",\"file.filename\":\"$v\"}" \
		"json:{\"driver\":\"file\",\"filename\":\"$v\"}"; do
		rm -f vm.ovl
		hostile_overlay vm.ovl "$name" raw
		assert_equal "$(info_field vm.ovl backing-filename)" "$name"
		assert_refused_all_modes vm.ovl
	done
}

@test "json: backing name, overlay holding data, --discard: still refused" {
	hostile_overlay vm.ovl \
		"json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":\"$VICTIM\"}}" raw
	write_data vm.ovl 'write -P 0xab 0 64k'
	assert_refused vm.ovl --discard
	assert_refused vm.ovl
}

@test "protocol backing names (nbd:, nbd+tcp:, http:, https:, ftp:) are refused and never connected to" {
	start_listener
	local p=$LISTEN_PORT name
	for name in \
		"nbd:127.0.0.1:$p" \
		"nbd://127.0.0.1:$p/x" \
		"nbd+tcp://127.0.0.1:$p/x" \
		"http://127.0.0.1:$p/x" \
		"https://127.0.0.1:$p/x" \
		"ftp://127.0.0.1:$p/x" \
		"nbd:localhost:10809"; do
		rm -f vm.ovl
		hostile_overlay vm.ovl "$name" raw
		assert_equal "$(info_field vm.ovl backing-filename)" "$name"
		assert_refused vm.ovl
		write_data vm.ovl
		assert_refused vm.ovl --discard
	done
	[[ ! -e "$LISTEN_HITS" ]] || fail "the tool connected to the listener: $(cat "$LISTEN_HITS")"
}

@test "nbd+unix: backing name is refused and never connected to" {
	start_nbd base.img raw ro
	hostile_overlay vm.ovl "nbd+unix:///?socket=$NBD_SOCK" raw
	assert_refused vm.ovl
}

@test "file: backing names (relative and absolute) are refused" {
	local name
	for name in file:victim "file:$VICTIM" file:base.img "file:$PWD/base.img"; do
		rm -f vm.ovl
		hostile_overlay vm.ovl "$name" raw
		assert_refused_all_modes vm.ovl
		write_data vm.ovl
		assert_refused vm.ovl --discard
	done
}

@test "a hostile backing name below the top of the chain is refused" {
	hostile_overlay mid.qcow2 \
		"json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":\"$VICTIM\"}}" raw
	make_overlay top.qcow2 mid.qcow2 qcow2
	CULPRIT=mid.qcow2
	assert_refused top.qcow2
	write_data top.qcow2
	assert_refused top.qcow2 --discard
}

# ---------------------------------------------------------------------------
# Image features.

@test "a qcow2 external data file is refused; the data file is untouched" {
	qemu-img create -q -f qcow2 -o data_file=victim -b base.img -F raw vm.ovl
	# The header names the data file; give it host data again.
	head -c 65536 /dev/urandom >victim
	assert_equal "$(info_field vm.ovl format-specific.data.data-file)" victim
	assert_refused vm.ovl
	assert_refused vm.ovl --discard
}

@test "a qcow2 external data file holding overlay data, --discard: refused" {
	qemu-img create -q -f qcow2 -o data_file=dfile -b base.img -F raw vm.ovl
	write_data vm.ovl 'write -P 0xcd 0 64k'
	assert_refused vm.ovl --discard
	assert_refused vm.ovl
}

@test "a qcow2 external data file with an absolute name is refused" {
	qemu-img create -q -f qcow2 -o "data_file=$VICTIM" -b base.img -F raw vm.ovl
	head -c 65536 /dev/urandom >victim
	assert_refused vm.ovl
	assert_refused vm.ovl --discard
}

@test "an overlay with no recorded backing format is refused" {
	make_overlay vm.ovl base.img raw
	# qemu-img 7.2 will not write such a header any more: drop the
	# backing format extension from the header by hand.
	python3 - vm.ovl <<'EOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    h = f.read(4096)
    version = struct.unpack(">I", h[4:8])[0]
    off = struct.unpack(">I", h[100:104])[0] if version >= 3 else 72
    while True:
        magic, length = struct.unpack(">II", h[off:off + 8])
        if magic == 0:
            sys.exit("no backing format extension")
        if magic == 0xE2792ACA:
            f.seek(off)
            f.write(struct.pack(">I", 0x0BADF00D))  # unknown: ignored
            break
        off += 8 + ((length + 7) & ~7)
EOF
	assert_equal "$(info_field vm.ovl backing-filename)" base.img
	assert_equal "$(info_field vm.ovl backing-filename-format)" "<absent>"
	run qemu-img check -q -f qcow2 ./vm.ovl
	assert_success
	assert_refused_all_modes vm.ovl
	write_data vm.ovl
	assert_refused vm.ovl --discard
}

@test "a backing format other than raw or qcow2 is refused" {
	local fmt
	qemu-img create -q -f vmdk base.vmdk 16M
	qemu-img create -q -f qcow2 -b base.vmdk -F vmdk vm.ovl
	assert_equal "$(info_field vm.ovl backing-filename-format)" vmdk
	assert_refused vm.ovl
	for fmt in file vmdk qed vpc luks nbd; do
		rm -f vm.ovl
		hostile_overlay vm.ovl base.img "$fmt"
		assert_equal "$(info_field vm.ovl backing-filename-format)" "$fmt"
		assert_refused vm.ovl
		write_data vm.ovl
		assert_refused vm.ovl --discard
	done
}

@test "an operand in another format (vmdk) is refused" {
	qemu-img create -q -f vmdk disk.vmdk 16M
	assert_refused disk.vmdk
}

@test "a raw file as operand is refused" {
	cp --sparse=always base.img disk.img
	assert_refused disk.img
	assert_refused disk.img --discard
}

@test "a raw base holding a guest-written qcow2 header is read as raw, not probed" {
	# A guest wrote a qcow2 header that names the victim into its raw disk.
	qemu-img create -q -f qcow2 -u -b "$VICTIM" -F raw evil.qcow2 16M
	local n
	n=$(stat -c %s evil.qcow2)
	dd if=evil.qcow2 of=base.img bs=64k conv=notrunc status=none
	rm -f evil.qcow2
	make_overlay vm.ovl base.img raw
	local victim_sum base_sum
	victim_sum=$(sha victim)
	base_sum=$(sha base.img)
	run_renew vm.ovl
	assert_success
	assert_equal "$(info_field vm.ovl backing-filename-format)" raw
	assert_equal "$(info_field vm.ovl virtual-size)" 4194304
	assert_renewed vm.ovl base.img
	assert_equal "$(sha victim)" "$victim_sum"
	assert_equal "$(sha base.img)" "$base_sum"
	[[ $n -gt 0 ]]
}

@test "an encrypted overlay (legacy aes) is refused" {
	qemu-img create -q --object secret,id=s0,data=x -f qcow2 \
		-o encrypt.format=aes,encrypt.key-secret=s0 -b base.img -F raw vm.ovl
	assert_equal "$(info_field vm.ovl encrypted)" true
	assert_refused vm.ovl
	assert_refused vm.ovl --discard
}

@test "an encrypted overlay (luks) is refused" {
	# LUKS creation times its key derivation and fails on a loaded machine
	# ("Unable to get accurate CPU usage"): that is setup, so try again.
	local try
	for try in 1 2 3 4 5; do
		qemu-img create -q --object secret,id=s0,data=x -f qcow2 \
			-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=100 \
			-b base.img -F raw vm.ovl && break
		sleep 1
	done
	[ -f vm.ovl ]
	assert_equal "$(info_field vm.ovl format-specific.data.encrypt.format)" luks
	assert_refused vm.ovl
	assert_refused vm.ovl --discard
}

# ---------------------------------------------------------------------------
# Backing loops: refused quickly (the whole test well under 10 s).

@test "a self-backed image is refused quickly" {
	qemu-img create -q -f qcow2 self.qcow2 16M
	qemu-img rebase -q -u -f qcow2 -b self.qcow2 -F qcow2 ./self.qcow2
	assert_equal "$(info_field self.qcow2 backing-filename)" self.qcow2
	local t0=$SECONDS
	assert_refused self.qcow2
	assert_refused self.qcow2 --discard
	((SECONDS - t0 < 10)) || fail "took $((SECONDS - t0)) s"
}

@test "a self-backed image named by absolute path is refused quickly" {
	qemu-img create -q -f qcow2 self.qcow2 16M
	qemu-img rebase -q -u -f qcow2 -b "$PWD/self.qcow2" -F qcow2 ./self.qcow2
	local t0=$SECONDS
	assert_refused self.qcow2
	((SECONDS - t0 < 10)) || fail "took $((SECONDS - t0)) s"
}

@test "a two-image backing loop is refused quickly" {
	qemu-img create -q -f qcow2 a.qcow2 16M
	qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 b.qcow2
	qemu-img rebase -q -u -f qcow2 -b b.qcow2 -F qcow2 ./a.qcow2
	local t0=$SECONDS
	assert_refused a.qcow2
	assert_refused b.qcow2
	assert_refused a.qcow2 --discard
	((SECONDS - t0 < 10)) || fail "took $((SECONDS - t0)) s"
}

@test "a loop below the top of the chain is refused quickly" {
	qemu-img create -q -f qcow2 a.qcow2 16M
	qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 b.qcow2
	qemu-img rebase -q -u -f qcow2 -b b.qcow2 -F qcow2 ./a.qcow2
	qemu-img create -q -f qcow2 -u -b a.qcow2 -F qcow2 top.qcow2 16M
	CULPRIT=a.qcow2
	local t0=$SECONDS
	assert_refused top.qcow2
	((SECONDS - t0 < 10)) || fail "took $((SECONDS - t0)) s"
}

@test "a loop through a symlinked name is refused quickly" {
	qemu-img create -q -f qcow2 a.qcow2 16M
	ln -s a.qcow2 link.qcow2
	qemu-img rebase -q -u -f qcow2 -b link.qcow2 -F qcow2 ./a.qcow2
	local t0=$SECONDS
	assert_refused a.qcow2
	((SECONDS - t0 < 10)) || fail "took $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------
# Corruption.

# Point guest cluster 0's L2 entry at the L1 table's host cluster: a
# cluster referenced twice with refcount 1 (qemu-img check: exit 2).
corrupt_l2() {
	python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(40)
    l1_off = struct.unpack(">Q", f.read(8))[0]
    f.seek(l1_off)
    l2_off = struct.unpack(">Q", f.read(8))[0] & 0x00FFFFFFFFFFFE00
    if not l2_off:
        sys.exit("no L2 table: write data first")
    f.seek(l2_off)
    f.write(struct.pack(">Q", (1 << 63) | l1_off))
EOF
}

# Set the refcount of the L1 table's cluster to 0 (qemu-img check: exit 2).
corrupt_refcount() {
	python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(20)
    cluster_bits = struct.unpack(">I", f.read(4))[0]
    f.seek(40)
    l1_off = struct.unpack(">Q", f.read(8))[0]
    f.seek(48)
    rt_off = struct.unpack(">Q", f.read(8))[0]
    f.seek(96)
    if struct.unpack(">I", f.read(4))[0] != 4:
        sys.exit("refcount_order is not 4")
    f.seek(rt_off)
    rb_off = struct.unpack(">Q", f.read(8))[0]
    f.seek(rb_off + 2 * (l1_off >> cluster_bits))
    f.write(struct.pack(">H", 0))
EOF
}

@test "a corrupt overlay holding data (qemu-img check exit 2) is refused, even with --discard" {
	make_overlay vm.ovl base.img raw
	write_data vm.ovl 'write -P 0xab 0 64k'
	corrupt_l2 vm.ovl
	run qemu-img check -q -f qcow2 ./vm.ovl
	assert_failure 2
	assert_refused vm.ovl
	assert_refused vm.ovl --discard
}

@test "a corrupt empty overlay (bad refcount, check exit 2) is refused" {
	make_overlay vm.ovl base.img raw
	corrupt_refcount vm.ovl
	run qemu-img check -q -f qcow2 ./vm.ovl
	assert_failure 2
	assert_equal "$(overlay_allocated vm.ovl)" 0
	assert_refused vm.ovl
	assert_refused vm.ovl --discard
}

@test "an overlay marked corrupt in its header is refused" {
	make_overlay vm.ovl base.img raw
	python3 - vm.ovl <<'EOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(72)
    v = struct.unpack(">Q", f.read(8))[0]
    f.seek(72)
    f.write(struct.pack(">Q", v | 2))
EOF
	assert_equal "$(info_field vm.ovl format-specific.data.corrupt)" true
	assert_refused vm.ovl
	assert_refused vm.ovl --discard
}

@test "a corrupt qcow2 in the middle of the chain is refused" {
	make_overlay mid.qcow2 base.img raw
	write_data mid.qcow2
	corrupt_l2 mid.qcow2
	make_overlay top.qcow2 mid.qcow2 qcow2
	run qemu-img check -q -f qcow2 ./mid.qcow2
	assert_failure 2
	CULPRIT=mid.qcow2
	assert_refused top.qcow2
}

# ---------------------------------------------------------------------------
# Files in the way.

@test "a symlink overlay pointing at a victim is refused; the victim is untouched" {
	make_overlay real.ovl base.img raw
	ln -s "$VICTIM" vm.ovl
	assert_refused vm.ovl
	assert_refused vm.ovl --discard
	rm vm.ovl
	ln -s real.ovl vm.ovl
	assert_refused vm.ovl
	[[ -L vm.ovl ]]
}

@test "a symlinked directory component is followed, the overlay itself renewed in place" {
	mkdir real
	make_base real/base.img
	(cd real && make_overlay vm.ovl base.img raw)
	ln -s real link
	run_renew link/vm.ovl
	assert_success
	[[ -L link ]] || fail "the directory link was replaced"
	(cd real && assert_renewed vm.ovl base.img)
	assert_equal "$(names_in real)" "$(names_list base.img vm.ovl)"
}
