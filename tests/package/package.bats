#!/usr/bin/env bats
# The Debian package: built from the release tarball (what make dist and
# make distcheck make) with dpkg-buildpackage, lintian clean of errors,
# installed on this machine, used, and purged again.
#
# Run once per CI run by scripts/test-all.sh (not by make check: it takes a
# minute and needs root and dpkg), with OVL_TARBALL naming the tarball.

bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup_file() {
	[[ $(id -u) -eq 0 ]] || skip "the package suite installs a package: run it as root"
	[[ -f "${OVL_TARBALL:-}" ]] || fail "OVL_TARBALL must name ovl's release tarball"
	export PKG=$BATS_FILE_TMPDIR/pkg
	mkdir -p "$PKG"
	tar -xzf "$OVL_TARBALL" -C "$PKG"
	SRC=$(find "$PKG" -mindepth 1 -maxdepth 1 -type d -name 'ovl-*')
	(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$PKG/build.log" 2>&1 || true
	DEB=$(find "$PKG" -maxdepth 1 -name 'ovl_*_*.deb' | head -n 1)
	export SRC DEB
}

teardown_file() {
	# Leave the machine as it was: the package only lives for this suite.
	[[ -f "$PKG/installed-by-test" ]] && dpkg --purge ovl >/dev/null 2>&1
	return 0
}

@test "package: dpkg-buildpackage -us -uc -b builds ovl_*.deb from the release tarball" {
	[[ -n "$DEB" && -f "$DEB" ]] || fail "no .deb; build log: $(tail -n 30 "$PKG/build.log")"
	run dpkg-deb -f "$DEB" Package Depends Recommends
	assert_success
	assert_line 'Package: ovl'
	assert_line --regexp '^Depends: .*qemu-utils'
	assert_line --regexp '^Depends: .*libsqlite3-0'
	assert_line --regexp '^Depends: .*libjansson4'
	assert_line --regexp '^Recommends: .*libguestfs-tools'
}

@test "package: lintian finds no error" {
	[[ -f "$DEB" ]] || fail "no package was built"
	run lintian --fail-on error "$DEB"
	assert_success
}

@test "package: installs on this machine; tools, man pages, completions and units work from the install" {
	[[ -f "$DEB" ]] || fail "no package was built"
	if dpkg-query -W -f='${db:Status-Status}' ovl 2>/dev/null | grep -qx installed; then
		fail "a package 'ovl' is already installed on this machine; remove it first"
	fi
	run dpkg -i "$DEB"
	assert_success
	: >"$PKG/installed-by-test"
	local t
	for t in ovl-renew ovl-commit ovl-undo ovl-history; do
		run "/usr/bin/$t" --version
		assert_success
		assert_output --regexp "^$t \\(ovl\\) [0-9]"
		run man -P cat "$t"
		assert_success
		assert_output --partial "$t"
		[[ -f "/usr/share/bash-completion/completions/$t" ]] || fail "no completion for $t"
	done
	run man -P cat 8 ovl-rotate
	assert_success
	assert_output --partial 'rotate.d'
	run /usr/libexec/ovl/ovl-rotate --help
	assert_success
	[[ -d /etc/ovl/rotate.d ]]
	cp /lib/systemd/system/ovl-rotate@.service "$BATS_TEST_TMPDIR/ovl-rotate@pkgtest.service"
	cp /lib/systemd/system/ovl-rotate@.timer "$BATS_TEST_TMPDIR/ovl-rotate@pkgtest.timer"
	run systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/ovl-rotate@pkgtest.service" \
		"$BATS_TEST_TMPDIR/ovl-rotate@pkgtest.timer"
	assert_success
	assert_output ''
}

@test "package: the installed tools commit and undo a real overlay" {
	[[ -x /usr/bin/ovl-commit ]] || fail "not installed (see the test above)"
	cd "$BATS_TEST_TMPDIR"
	qemu-img create -q -f raw base.img 8M
	qemu-img create -q -f qcow2 -b base.img -F raw vm.ovl
	qemu-io -c 'write -P 0x42 0 1M' vm.ovl >/dev/null
	run /usr/bin/ovl-commit -q vm.ovl
	assert_success
	run /usr/bin/ovl-history --output=json list vm.ovl
	assert_success
	assert_output --partial '"head":1,'
	run /usr/bin/ovl-undo -q --to 0 vm.ovl
	assert_success
	# Undone to state 0: the base reads as it did before the commit.
	run qemu-img compare -f raw -F raw base.img base.img.history/pristine.raw
	assert_success
	run qemu-io -f raw -c 'read -P 0 0 1M' base.img
	assert_success
	refute_output --partial 'Pattern verification failed'
}

@test "package: purge removes every file it installed" {
	[[ -f "$PKG/installed-by-test" ]] || fail "not installed (see the tests above)"
	run dpkg --purge ovl
	assert_success
	rm -f "$PKG/installed-by-test"
	[[ ! -e /usr/bin/ovl-commit && ! -e /lib/systemd/system/ovl-rotate@.service && ! -e /usr/libexec/ovl ]]
}
