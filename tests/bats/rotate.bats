#!/usr/bin/env bats
# Rotation from a timer: the units as systemd reads them, and ovl-rotate
# (what ovl-rotate@NAME.service runs) for real against test overlays.

load helpers

setup() {
	ovl_setup
	ROT=$OVL_BUILDDIR/systemd/ovl-rotate
	[[ -x "$ROT" ]] || fail "no systemd/ovl-rotate in '$OVL_BUILDDIR' (make builds it)"
	mkdir conf
	export OVL_ROTATE_CONFDIR=$T/conf OVL_ROTATE_BINDIR=$OVL_BUILDDIR
	make_base base.img 16M
	make_overlay vm.ovl base.img raw
}

# conf NAME LINE...: conf/NAME.conf with these lines.
conf() {
	local name=$1
	shift
	printf '%s\n' "$@" >"conf/$name.conf"
}

rotate() {
	run --separate-stderr timeout 60 "$ROT" "$@"
}

# The command line ovl-rotate@NAME.service runs, as its unit says (%i
# replaced), with the installed path mapped to the build's script.
service_cmdline() {
	local unit=$OVL_BUILDDIR/systemd/ovl-rotate@.service exec libexec
	exec=$(sed -n 's/^ExecStart=//p' "$unit")
	libexec=$(make -s --no-print-directory -C "$OVL_BUILDDIR" print-pkglibexecdir 2>/dev/null)
	[[ "$exec" == "$libexec/ovl-rotate %i" ]] || fail "unexpected ExecStart: '$exec' (pkglibexecdir '$libexec')"
	printf '%s\n' "$ROT" "$1"
}

@test "the units pass systemd-analyze verify, installed as make install puts them" {
	command -v systemd-analyze >/dev/null || fail "systemd-analyze is needed"
	make -s -C "$OVL_BUILDDIR" install DESTDIR="$T/root" >/dev/null
	local libexec unitdir u
	libexec=$(make -s --no-print-directory -C "$OVL_BUILDDIR" print-pkglibexecdir)
	unitdir=$(make -s --no-print-directory -C "$OVL_BUILDDIR" print-systemdsystemunitdir)
	[[ -x "$T/root$libexec/ovl-rotate" ]] || fail "ovl-rotate not installed in $libexec"
	[[ -f "$T/root$unitdir/ovl-rotate@.service" && -f "$T/root$unitdir/ovl-rotate@.timer" ]] ||
		fail "units not installed in $unitdir"
	mkdir units
	for u in service timer; do
		# An instance of each template, ExecStart pointing into the scratch root.
		sed "s|$libexec|$T/root$libexec|" "$T/root$unitdir/ovl-rotate@.$u" >"units/ovl-rotate@test.$u"
	done
	run systemd-analyze verify --man=no units/ovl-rotate@test.service units/ovl-rotate@test.timer
	assert_success
	assert_output ''
	grep -qx 'Persistent=true' units/ovl-rotate@test.timer
	grep -qx 'IOSchedulingClass=idle' units/ovl-rotate@test.service
	grep -qx 'Type=oneshot' units/ovl-rotate@test.service
}

@test "systemd-analyze verify catches a broken unit (the check above can fail)" {
	command -v systemd-analyze >/dev/null || fail "systemd-analyze is needed"
	printf '[Service]\nType=oneshot\nExecStart=/nonexistent/ovl-rotate %%i\n' >bad@test.service
	run systemd-analyze verify --man=no bad@test.service
	[[ "$status" -ne 0 || -n "$output" ]] || fail "a unit with a missing command passed verify"
}

@test "the service's command commits the overlay and prunes it by KEEP" {
	local -a cmd
	conf vm "OVERLAY=$T/vm.ovl" "MIN_SIZE=1M" "MESSAGE='nightly rotation'" \
		"KEEP=--keep-last 1" "# a comment" "" "ON_BUSY=skip"
	mapfile -t cmd < <(service_cmdline vm)
	write_data vm.ovl 'write -P 0x11 0 2M'
	run --separate-stderr timeout 60 "${cmd[@]}"
	assert_success
	[[ $(store_head base.img.history) == 1 ]]
	[[ $(store_sql base.img.history "SELECT message FROM commits WHERE seq = 1") == 'nightly rotation' ]]
	write_data vm.ovl 'write -P 0x22 4M 2M'
	raw_ref vm.ovl qcow2 want.raw
	run --separate-stderr timeout 60 "${cmd[@]}"
	assert_success
	# Commit 2 made, commit 1 folded into the pristine copy by --keep-last 1.
	[[ $(store_head base.img.history) == 2 ]]
	[[ $(store_sql base.img.history "SELECT value FROM meta WHERE key = 'oldest'") == 1 ]]
	assert_overlay_empty vm.ovl base.img raw
	assert_reads_like base.img raw want.raw
	run ovl-history verify vm.ovl
	assert_success
}

@test "an overlay under MIN_SIZE is left alone, and the unit succeeds" {
	conf vm "OVERLAY=$T/vm.ovl" "MIN_SIZE=8M"
	write_data vm.ovl 'write -P 0x11 0 1M'
	local before
	before=$(sha vm.ovl)
	rotate vm
	assert_success
	[[ $(sha vm.ovl) == "$before" ]]
	[[ ! -e base.img.history ]]
}

@test "a running VM is logged and skipped with ON_BUSY=skip, a failure with ON_BUSY=fail" {
	conf skip "OVERLAY=$T/vm.ovl"
	conf fail "OVERLAY=$T/vm.ovl" "ON_BUSY=fail"
	write_data vm.ovl 'write -P 0x11 0 1M'
	local before
	before=$(sha base.img)
	start_nbd vm.ovl qcow2
	rotate skip
	assert_success
	[[ "$stderr" == *"ovl-rotate: skip: '$T/vm.ovl' is busy"*"skipped"* ]] || fail "stderr: $stderr"
	rotate fail
	[[ "$status" -eq 3 ]] || fail "status $status, stderr: $stderr"
	[[ "$stderr" == *"is busy: commit failed"* ]] || fail "stderr: $stderr"
	stop_nbd
	[[ $(sha base.img) == "$before" ]]
}

@test "configuration errors fail the unit with one clear line" {
	rotate missing
	[[ "$status" -eq 2 && "$stderr" == *"missing.conf': no such configuration file"* ]] || fail "$status $stderr"
	conf nokey "MIN_SIZE=1M"
	rotate nokey
	[[ "$status" -eq 2 && "$stderr" == *"OVERLAY= is missing"* ]] || fail "$status $stderr"
	conf typo "OVERLAY=$T/vm.ovl" "MINSIZE=1M"
	rotate typo
	[[ "$status" -eq 2 && "$stderr" == *"line 2: unknown key 'MINSIZE'"* ]] || fail "$status $stderr"
	conf busy "OVERLAY=$T/vm.ovl" "ON_BUSY=maybe"
	rotate busy
	[[ "$status" -eq 2 && "$stderr" == *"ON_BUSY must be skip or fail"* ]] || fail "$status $stderr"
	conf keep "OVERLAY=$T/vm.ovl" 'KEEP=--keep-last 1; rm -rf /'
	rotate keep
	[[ "$status" -eq 2 && "$stderr" == *"KEEP: '1;' is not"* ]] || fail "$status $stderr"
	conf shell 'OVERLAY=$(touch pwned)'
	rotate shell
	[[ ! -e pwned ]] || fail "a value was run by a shell"
	rotate '../etc/x'
	[[ "$status" -eq 2 && "$stderr" == *"not a valid instance name"* ]] || fail "$status $stderr"
}

@test "a failed commit fails the unit with ovl-commit's status" {
	conf vm "OVERLAY=$T/nonexistent.ovl"
	rotate vm
	[[ "$status" -eq 1 ]] || fail "status $status"
	[[ "$stderr" == *"ovl-commit: "*"nonexistent.ovl"* && "$stderr" == *"vm: commit failed (exit 1)"* ]] || fail "$stderr"
}
