#!/usr/bin/env bats
# ovl-renew: replace an overlay with an empty one like it.

load helpers

# A base and an empty overlay on it, the everyday case.
setup_pair() {
	make_base base.img 16M
	make_overlay vm.ovl base.img raw
}

# ---------------------------------------------------------------------------
# Command line.

@test "--help prints usage on stdout and exits 0" {
	run_renew --help
	assert_success
	assert_output --partial "Usage:"
	run_renew -h
	assert_success
	assert_output --partial "Usage:"
}

@test "--version exits 0 and prints a version" {
	run_renew --version
	assert_success
	assert_output --partial "ovl"
	run_renew -V
	assert_success
	refute_output ""
}

@test "no operand is a usage error (2)" {
	run_renew
	assert_failure 2
	[[ "$stderr" == "ovl-renew: "* ]] || fail "stderr: $stderr"
}

@test "unknown option is a usage error (2) and touches nothing" {
	setup_pair
	local before
	before=$(snap .)
	run_renew --bogus vm.ovl
	assert_failure 2
	[[ "$stderr" == "ovl-renew: "* ]] || fail "stderr: $stderr"
	assert_equal "$(snap .)" "$before"
}

@test "--output is not an option of ovl-renew (2)" {
	setup_pair
	local before
	before=$(snap .)
	run_renew --output=xml vm.ovl
	assert_failure 2
	run_renew --output=json vm.ovl
	assert_failure 2
	assert_equal "$(snap .)" "$before"
}

@test "--store without its argument is a usage error (2)" {
	setup_pair
	local before
	before=$(snap .)
	run_renew vm.ovl --store
	assert_failure 2
	assert_equal "$(snap .)" "$before"
}

# ---------------------------------------------------------------------------
# The job.

@test "renews an empty overlay: new file, same image properties, guest sees the base" {
	setup_pair
	local props base_sum ino
	props=$(image_props vm.ovl)
	base_sum=$(sha base.img)
	ino=$(inode vm.ovl)

	run_renew vm.ovl
	assert_success

	assert_not_equal "$(inode vm.ovl)" "$ino"
	assert_equal "$(image_props vm.ovl)" "$props"
	assert_equal "$(info_field vm.ovl backing-filename)" base.img
	assert_equal "$(info_field vm.ovl backing-filename-format)" raw
	assert_renewed vm.ovl base.img
	assert_equal "$(sha base.img)" "$base_sum"
	# Nothing of its making is left: no temporary file, no store.
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
}

@test "keeps cluster size, extended L2, lazy refcounts, refcount bits, zstd, a size larger than the base" {
	make_base base.img 16M
	make_overlay vm.ovl base.img raw \
		cluster_size=128k,extended_l2=on,lazy_refcounts=on,refcount_bits=32,compression_type=zstd \
		32M
	local props
	props=$(image_props vm.ovl)
	assert_equal "$(info_field vm.ovl format-specific.data.extended-l2)" true

	run_renew vm.ovl
	assert_success

	assert_equal "$(image_props vm.ovl)" "$props"
	assert_equal "$(info_field vm.ovl virtual-size)" 33554432
	assert_equal "$(info_field vm.ovl cluster-size)" 131072
	assert_equal "$(info_field vm.ovl format-specific.data.extended-l2)" true
	assert_equal "$(info_field vm.ovl format-specific.data.lazy-refcounts)" true
	assert_equal "$(info_field vm.ovl format-specific.data.refcount-bits)" 32
	assert_equal "$(info_field vm.ovl format-specific.data.compression-type)" zstd
	run qemu-img check -q -f qcow2 ./vm.ovl
	assert_success
	assert_equal "$(overlay_allocated vm.ovl)" 0
}

@test "keeps compat 0.10 and 4k clusters" {
	make_base base.img 16M
	make_overlay vm.ovl base.img raw compat=0.10,cluster_size=4k
	local props
	props=$(image_props vm.ovl)

	run_renew vm.ovl
	assert_success

	assert_equal "$(image_props vm.ovl)" "$props"
	assert_equal "$(info_field vm.ovl format-specific.data.compat)" 0.10
	assert_equal "$(info_field vm.ovl cluster-size)" 4096
	assert_renewed vm.ovl base.img
}

@test "keeps owner, group and mode" {
	[[ $EUID -eq 0 ]] || skip "needs root to chown"
	setup_pair
	chown 1234:5678 vm.ovl
	chmod 0640 vm.ovl
	local ino
	ino=$(inode vm.ovl)

	run_renew vm.ovl
	assert_success

	assert_not_equal "$(inode vm.ovl)" "$ino"
	assert_equal "$(stat -c '%u:%g %a' vm.ovl)" "1234:5678 640"
	assert_renewed vm.ovl base.img
}

@test "keeps an unusual mode (0600, other owner)" {
	[[ $EUID -eq 0 ]] || skip "needs root to chown"
	setup_pair
	chown 4321:4321 vm.ovl
	chmod 0600 vm.ovl
	local ino
	ino=$(inode vm.ovl)
	run_renew vm.ovl
	assert_success
	assert_not_equal "$(inode vm.ovl)" "$ino"
	assert_equal "$(stat -c '%u:%g %a' vm.ovl)" "4321:4321 600"
}

@test "keeps an absolute backing name" {
	make_base base.img
	make_overlay vm.ovl "$PWD/base.img" raw
	run_renew vm.ovl
	assert_success
	assert_equal "$(info_field vm.ovl backing-filename)" "$PWD/base.img"
	assert_renewed vm.ovl base.img
}

@test "a relative backing name stays relative, run from another directory" {
	mkdir d
	make_base d/base.img
	(cd d && make_overlay vm.ovl base.img raw)
	local rel=${PWD#/}/d/vm.ovl base_sum
	base_sum=$(sha d/base.img)

	(cd / && timeout 30 ovl-renew "$rel") || fail "ovl-renew $rel failed: $?"

	assert_equal "$(info_field d/vm.ovl backing-filename)" base.img
	assert_equal "$(info_field d/vm.ovl backing-filename-format)" raw
	(cd d && assert_renewed vm.ovl base.img)
	assert_equal "$(sha d/base.img)" "$base_sum"
	assert_equal "$(names_in d)" "$(names_list base.img vm.ovl)"
}

@test "a relative backing name resolves against the overlay's directory, not the cwd" {
	mkdir d cwd
	make_base d/base.img
	(cd d && make_overlay vm.ovl base.img raw)
	# A different base.img where the tool runs.
	qemu-img create -q -f raw cwd/base.img 32M
	local decoy
	decoy=$(sha cwd/base.img)

	cd cwd
	run_renew ../d/vm.ovl
	assert_success
	cd ..

	assert_equal "$(info_field d/vm.ovl backing-filename)" base.img
	assert_equal "$(info_field d/vm.ovl virtual-size)" 16777216
	(cd d && assert_renewed vm.ovl base.img)
	assert_equal "$(sha cwd/base.img)" "$decoy"
}

@test "an overlay given by absolute path" {
	setup_pair
	run_renew "$PWD/vm.ovl"
	assert_success
	assert_equal "$(info_field vm.ovl backing-filename)" base.img
	assert_renewed vm.ovl base.img
}

@test "chain: base.raw <- mid.qcow2 <- top.qcow2, renew top keeps mid as its backing" {
	make_base base.raw
	make_overlay mid.qcow2 base.raw raw
	write_data mid.qcow2 'write -P 0x77 128k 64k'
	make_overlay top.qcow2 mid.qcow2 qcow2
	local mid_sum base_sum
	mid_sum=$(sha mid.qcow2)
	base_sum=$(sha base.raw)

	run_renew top.qcow2
	assert_success

	assert_equal "$(info_field top.qcow2 backing-filename)" mid.qcow2
	assert_equal "$(info_field top.qcow2 backing-filename-format)" qcow2
	assert_renewed top.qcow2 mid.qcow2 qcow2
	assert_equal "$(sha mid.qcow2)" "$mid_sum"
	assert_equal "$(sha base.raw)" "$base_sum"
}

@test "renewing twice in a row works" {
	setup_pair
	run_renew vm.ovl
	assert_success
	run_renew vm.ovl
	assert_success
	assert_renewed vm.ovl base.img
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
}

# ---------------------------------------------------------------------------
# Data in the overlay.

@test "refuses an overlay holding data (exit 1, overlay untouched)" {
	setup_pair
	write_data vm.ovl 'write -P 0xab 0 64k'
	local before ino
	before=$(snap .)
	ino=$(inode vm.ovl)

	run_renew vm.ovl
	assert_failure 1
	assert_error_names vm.ovl

	assert_equal "$(snap .)" "$before"
	assert_equal "$(inode vm.ovl)" "$ino"
}

@test "refuses an overlay holding only zero clusters (a zero-write hides base data)" {
	setup_pair
	write_data vm.ovl 'write -z 0 64k'
	assert_not_equal "$(overlay_allocated vm.ovl)" 0
	local before
	before=$(snap .)

	run_renew vm.ovl
	assert_failure 1
	assert_error_names vm.ovl
	assert_equal "$(snap .)" "$before"
}

@test "refuses an overlay with data beyond the end of the base" {
	make_base base.img 16M
	make_overlay vm.ovl base.img raw "" 32M
	write_data vm.ovl 'write -P 0x3c 20M 64k'
	local before
	before=$(snap .)
	run_renew vm.ovl
	assert_failure 1
	assert_equal "$(snap .)" "$before"
}

@test "--discard renews an overlay holding data" {
	setup_pair
	write_data vm.ovl 'write -P 0xab 0 64k'
	local props base_sum ino
	props=$(image_props vm.ovl)
	base_sum=$(sha base.img)
	ino=$(inode vm.ovl)

	run_renew --discard vm.ovl
	assert_success

	assert_not_equal "$(inode vm.ovl)" "$ino"
	assert_equal "$(image_props vm.ovl)" "$props"
	assert_renewed vm.ovl base.img
	assert_equal "$(sha base.img)" "$base_sum"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
}

@test "--discard renews an overlay holding zero clusters" {
	setup_pair
	write_data vm.ovl 'write -z 0 1M'
	run_renew --discard vm.ovl
	assert_success
	assert_renewed vm.ovl base.img
}

# ---------------------------------------------------------------------------
# Output options.

@test "--dry-run says what it would do and changes nothing" {
	setup_pair
	local before ino
	before=$(snap .)
	ino=$(inode vm.ovl)

	run_renew --dry-run vm.ovl
	assert_success
	refute_output ""
	assert_equal "$(snap .)" "$before"
	assert_equal "$(inode vm.ovl)" "$ino"

	run_renew -n vm.ovl
	assert_success
	refute_output ""
	assert_equal "$(snap .)" "$before"
	assert_equal "$(inode vm.ovl)" "$ino"
}

@test "--dry-run --discard on an overlay with data changes nothing" {
	setup_pair
	write_data vm.ovl
	local before
	before=$(snap .)
	run_renew -n --discard vm.ovl
	assert_success
	refute_output ""
	assert_equal "$(snap .)" "$before"
}

@test "-q prints nothing on stdout" {
	setup_pair
	run_renew -q vm.ovl
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	assert_renewed vm.ovl base.img

	run_renew --quiet vm.ovl
	assert_success
	assert_output ""
}

@test "-p / --progress is accepted" {
	setup_pair
	run_renew -p vm.ovl
	assert_success
	run_renew --progress vm.ovl
	assert_success
	assert_renewed vm.ovl base.img
}

@test "--store and OVL_STORE are ignored: no store is made" {
	setup_pair
	run_renew --store "$PWD/store" vm.ovl
	assert_success
	[[ ! -e store ]] || fail "a store was created"
	OVL_STORE="$PWD/store2" run --separate-stderr timeout 30 ovl-renew vm.ovl
	assert_success
	[[ ! -e store2 ]] || fail "a store was created"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
}

@test "qemu-img is found through PATH" {
	setup_pair
	use_qemu_wrapper
	run_renew vm.ovl
	assert_success
	grep -qx create "$QEMU_LOG" || fail "the wrapper saw no qemu-img create: $(cat "$QEMU_LOG")"
	assert_renewed vm.ovl base.img
}

# ---------------------------------------------------------------------------
# Several operands.

@test "several good overlays are all renewed" {
	make_base b1.img
	make_base b2.img
	make_overlay v1.ovl b1.img raw
	make_overlay v2.ovl b2.img raw
	local i1 i2
	i1=$(inode v1.ovl)
	i2=$(inode v2.ovl)
	run_renew v1.ovl v2.ovl
	assert_success
	assert_not_equal "$(inode v1.ovl)" "$i1"
	assert_not_equal "$(inode v2.ovl)" "$i2"
	assert_renewed v1.ovl b1.img
	assert_renewed v2.ovl b2.img
}

@test "a good overlay and one with data: exit 1, the good one renewed, the other untouched" {
	make_base b1.img
	make_base b2.img
	make_overlay good.ovl b1.img raw
	make_overlay bad.ovl b2.img raw
	write_data bad.ovl
	local ig bad_sum ib
	ig=$(inode good.ovl)
	ib=$(inode bad.ovl)
	bad_sum=$(sha bad.ovl)

	run_renew bad.ovl good.ovl
	assert_failure 1
	assert_error_names bad.ovl
	[[ "$stderr" != *good.ovl* ]] || fail "good.ovl named in errors: $stderr"

	assert_not_equal "$(inode good.ovl)" "$ig"
	assert_renewed good.ovl b1.img
	assert_equal "$(inode bad.ovl)" "$ib"
	assert_equal "$(sha bad.ovl)" "$bad_sum"
}

@test "a good overlay and a missing file: exit 1, the good one renewed" {
	setup_pair
	local ino
	ino=$(inode vm.ovl)
	run_renew vm.ovl missing.ovl
	assert_failure 1
	assert_error_names missing.ovl
	assert_not_equal "$(inode vm.ovl)" "$ino"
	assert_renewed vm.ovl base.img
	[[ ! -e missing.ovl ]] || fail "missing.ovl was created"
}

# ---------------------------------------------------------------------------
# Operands that are not overlays.

@test "a missing file: exit 1, named, with the system's reason" {
	run_renew missing.ovl
	assert_failure 1
	assert_error_names missing.ovl
	[[ "$stderr" == *"No such file or directory"* ]] || fail "stderr: $stderr"
	[[ ! -e missing.ovl ]] || fail "missing.ovl was created"
	assert_equal "$(names_in .)" ""
}

@test "a raw file is refused and left alone" {
	make_base disk.img 16M
	local before
	before=$(snap .)
	run_renew disk.img
	assert_failure 1
	assert_error_names disk.img
	assert_equal "$(snap .)" "$before"
}

@test "a qcow2 image without a backing file is refused" {
	qemu-img create -q -f qcow2 lone.qcow2 64M
	write_data lone.qcow2
	local before
	before=$(snap .)
	run_renew lone.qcow2
	assert_failure 1
	assert_error_names lone.qcow2
	run_renew --discard lone.qcow2
	assert_failure 1
	assert_equal "$(snap .)" "$before"
}

@test "an empty qcow2 image without a backing file is refused" {
	qemu-img create -q -f qcow2 lone.qcow2 64M
	local before
	before=$(snap .)
	run_renew lone.qcow2
	assert_failure 1
	assert_error_names lone.qcow2
	assert_equal "$(snap .)" "$before"
}

@test "a directory is refused" {
	mkdir dir.ovl
	run_renew dir.ovl
	assert_failure 1
	assert_error_names dir.ovl
	[[ -d dir.ovl ]]
	assert_equal "$(names_in dir.ovl)" ""
}

@test "an empty file is refused" {
	: >empty.ovl
	run_renew empty.ovl
	assert_failure 1
	assert_error_names empty.ovl
	assert_equal "$(stat -c %s empty.ovl)" 0
}

@test "a symlink operand is refused; link and target untouched" {
	setup_pair
	mv vm.ovl real.ovl
	ln -s real.ovl vm.ovl
	local before
	before=$(snap .)
	run_renew vm.ovl
	assert_failure 1
	assert_error_names vm.ovl
	assert_equal "$(snap .)" "$before"
	[[ -L vm.ovl ]] || fail "the symlink was replaced"
}

# ---------------------------------------------------------------------------
# Temporary files.

@test "each image of the chain is read by qemu-img info once (the base read ahead from the header's name is used)" {
	make_base base.img 64M
	make_overlay vm.ovl base.img raw
	use_qemu_wrapper
	run_renew vm.ovl
	assert_success
	assert_equal "$(grep -cx info "$QEMU_LOG")" 2
	# The base was read as the format the overlay records, by its path.
	tr '\0' '\n' <"$QEMU_ARGS" | grep -qx "$PWD/base.img" ||
		fail "the base was not read by its path: $(tr '\0' ' ' <"$QEMU_ARGS")"
	assert_renewed vm.ovl base.img
}

@test "planted .ovl-tmp-* symlinks to a victim are not written through" {
	setup_pair
	head -c 65536 /dev/urandom >victim
	local victim_sum n
	victim_sum=$(sha victim)
	for n in a b c XXXXXX 000000 aaaaaa tmp vm.ovl vm.ovl-XXXXXX; do
		ln -s "$PWD/victim" ".ovl-tmp-$n"
		ln -s "$PWD/victim" ".ovl-tmp-$n-$n"
	done
	ln -s "$PWD/victim" .vm.ovl.tmp
	ln -s "$PWD/victim" vm.ovl.tmp
	ln -s "$PWD/victim" vm.ovl.new

	run_renew vm.ovl
	assert_success
	assert_renewed vm.ovl base.img
	assert_equal "$(sha victim)" "$victim_sum"
	assert_equal "$(stat -c %s victim)" 65536
}

@test "a leftover temporary file of a crashed run is removed; a planted link there is not followed" {
	setup_pair
	use_qemu_wrapper
	run_renew vm.ovl
	assert_success
	# The name of the tool's temporary files (files.c tmp_prefix_for:
	# FNV-1a of the name); qemu-img is handed /dev/fd/N, not that name.
	local prefix
	prefix=$(python3 -c 'import sys
h = 2166136261
for c in sys.argv[1].encode():
    h = ((h ^ c) * 16777619) & 0xffffffff
print(".ovl-tmp-%08x-" % h)' vm.ovl)
	[[ -n "$prefix" ]] || fail "could not compute the temporary name prefix"

	head -c 65536 /dev/urandom >victim
	local victim_sum
	victim_sum=$(sha victim)
	qemu-img create -q -f qcow2 -b base.img -F raw "./${prefix}Crash1"
	ln -s "$PWD/victim" "${prefix}Crash2"

	run_renew vm.ovl
	assert_success
	assert_renewed vm.ovl base.img
	assert_equal "$(sha victim)" "$victim_sum"
	# The leftover image is gone; the planted link (not of the tool's
	# making) may stay or go, but was never followed.
	[[ ! -e "${prefix}Crash1" ]] || fail "leftover ${prefix}Crash1 not removed"
	rm -f -- "${prefix}Crash2"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl victim)"
}

# ---------------------------------------------------------------------------
# qemu-img failing under it.

# renew_with_failure VARIABLE SUBCOMMAND: with the failure injected, the
# renew fails (1) naming the overlay, which is untouched; nothing is left.
renew_with_failure() {
	setup_pair
	use_qemu_wrapper
	local before ino
	before=$(snap .)
	ino=$(inode vm.ovl)
	export "$1=$2"
	run_renew vm.ovl
	unset "$1"
	assert_failure 1
	assert_error_names vm.ovl
	assert_equal "$(inode vm.ovl)" "$ino"
	assert_equal "$(snap .)" "$before"
	grep -qx "$2" "$QEMU_LOG" || fail "qemu-img $2 was never run"
	# And the next run, undisturbed, does the job and leaves nothing behind.
	run_renew vm.ovl
	assert_success
	assert_renewed vm.ovl base.img
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
}

@test "qemu-img info failing: exit 1, overlay untouched" {
	renew_with_failure QEMU_WRAP_FAIL info
}

@test "qemu-img create failing: exit 1, overlay untouched, no temporary file left" {
	renew_with_failure QEMU_WRAP_FAIL create
}

@test "qemu-img create failing after writing its file: exit 1, overlay untouched, nothing left" {
	renew_with_failure QEMU_WRAP_FAIL_AFTER create
}

@test "qemu-img create killed by a signal: exit 1, overlay untouched, nothing left" {
	renew_with_failure QEMU_WRAP_KILL create
}

# ---------------------------------------------------------------------------
# Odd names.

# odd_case BASE OVERLAY BACKING_NAME [OPERAND...]: OVERLAY on BASE
# (recorded as BACKING_NAME) is renewed through the operands given.
odd_case() {
	local base=$1 ovl=$2 backing=$3
	shift 3
	make_base "$base" 16M
	make_overlay "$ovl" "$backing" raw
	local ino
	ino=$(inode "$ovl")
	run_renew "$@"
	assert_success
	assert_not_equal "$(inode "$ovl")" "$ino"
	assert_equal "$(info_field "$ovl" backing-filename)" "$backing"
	assert_renewed "$ovl" "$base"
	assert_equal "$(names_in .)" "$(names_list "$base" "$ovl")"
}

@test "odd names: spaces" {
	odd_case 'my base.img' 'my vm.ovl' 'my base.img' 'my vm.ovl'
}

@test "odd names: commas" {
	odd_case 'b,1,file=x.img' 'v,1,driver=raw.ovl' 'b,1,file=x.img' 'v,1,driver=raw.ovl'
}

@test "odd names: colons (a:b.ovl given plainly)" {
	odd_case 'x:y.img' 'a:b.ovl' './x:y.img' 'a:b.ovl'
}

@test "odd names: file: and nbd: look-alike overlay names" {
	odd_case 'base.img' 'file:vm.ovl' 'base.img' 'file:vm.ovl'
	rm -f -- base.img file:vm.ovl
	odd_case 'base.img' 'nbd:localhost:1' 'base.img' 'nbd:localhost:1'
}

@test "odd names: a leading dash, after --" {
	odd_case '-base.img' '-vm.ovl' '-base.img' -- '-vm.ovl'
}

@test "odd names: a leading dash, as ./-vm.ovl" {
	odd_case '-base.img' '-vm.ovl' '-base.img' './-vm.ovl'
}

@test "odd names: a newline" {
	odd_case $'ba\nse.img' $'v\nm.ovl' $'ba\nse.img' $'v\nm.ovl'
}

@test "odd names: quotes, backslash, dollar, star" {
	odd_case "b'a\"s\\e\$x*.img" "v'm\"\\\$(id)*.ovl" "b'a\"s\\e\$x*.img" "v'm\"\\\$(id)*.ovl"
}

@test "odd names: a 200-character base and a 255-character overlay" {
	local b o
	b=$(printf 'b%.0s' {1..196}).img
	o=$(printf 'o%.0s' {1..251}).ovl
	assert_equal "${#b}" 200
	assert_equal "${#o}" 255
	odd_case "$b" "$o" "$b" "$o"
}

@test "odd names: a directory with spaces, commas and colons" {
	mkdir 'd i,r:x'
	make_base 'd i,r:x/base.img'
	(cd 'd i,r:x' && make_overlay vm.ovl base.img raw)
	run_renew 'd i,r:x/vm.ovl'
	assert_success
	assert_equal "$(info_field 'd i,r:x/vm.ovl' backing-filename)" base.img
	(cd 'd i,r:x' && assert_renewed vm.ovl base.img)
	assert_equal "$(names_in 'd i,r:x')" "$(names_list base.img vm.ovl)"
}

# ---------------------------------------------------------------------------
# Busy images.

@test "busy: an overlay served by qemu-nbd exits 3 and is untouched" {
	setup_pair
	start_nbd vm.ovl qcow2
	local sum ino
	sum=$(sha vm.ovl)
	ino=$(inode vm.ovl)
	run_renew vm.ovl
	assert_failure 3
	assert_error_names vm.ovl
	assert_equal "$(sha vm.ovl)" "$sum"
	assert_equal "$(inode vm.ovl)" "$ino"
	assert_equal "$(names_in .)" "$(names_list base.img vm.ovl)"
}

@test "busy: a base served read-only by qemu-nbd exits 3" {
	setup_pair
	start_nbd base.img raw ro
	local sum ino base_sum
	sum=$(sha vm.ovl)
	ino=$(inode vm.ovl)
	base_sum=$(sha base.img)
	run_renew vm.ovl
	assert_failure 3
	assert_equal "$(sha vm.ovl)" "$sum"
	assert_equal "$(inode vm.ovl)" "$ino"
	assert_equal "$(sha base.img)" "$base_sum"
}

@test "busy: --discard does not override a lock" {
	setup_pair
	write_data vm.ovl
	start_nbd vm.ovl qcow2
	local sum
	sum=$(sha vm.ovl)
	run_renew --discard vm.ovl
	assert_failure 3
	assert_equal "$(sha vm.ovl)" "$sum"
}

@test "busy and good operands: exit 3, the good one renewed" {
	make_base b1.img
	make_base b2.img
	make_overlay busy.ovl b1.img raw
	make_overlay good.ovl b2.img raw
	start_nbd busy.ovl qcow2
	local sum ig
	sum=$(sha busy.ovl)
	ig=$(inode good.ovl)
	run_renew busy.ovl good.ovl
	assert_failure 3
	assert_equal "$(sha busy.ovl)" "$sum"
	assert_not_equal "$(inode good.ovl)" "$ig"
	assert_renewed good.ovl b2.img
}

@test "busy and failed operands: the failure wins (exit 1)" {
	make_base b1.img
	make_base b2.img
	make_overlay busy.ovl b1.img raw
	make_overlay data.ovl b2.img raw
	write_data data.ovl
	start_nbd busy.ovl qcow2
	run_renew busy.ovl data.ovl
	assert_failure 1
	run_renew data.ovl busy.ovl
	assert_failure 1
}

@test "after qemu-nbd is gone the overlay renews" {
	setup_pair
	start_nbd vm.ovl qcow2
	run_renew vm.ovl
	assert_failure 3
	stop_nbd
	run_renew vm.ovl
	assert_success
	assert_renewed vm.ovl base.img
}
