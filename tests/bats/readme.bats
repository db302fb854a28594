#!/usr/bin/env bats
# README.md cannot rot: every ```sh block in it is run, in order, as one
# script in a scratch directory with the built tools first on PATH.
# (```console blocks are whole-machine commands: set-up, install, systemd.)

load helpers

# The sh blocks of README.md, one after the other.
readme_script() {
	awk '/^```sh$/ { on = 1; next } /^```/ { on = 0 } on' "$OVL_SRCDIR/README.md"
}

@test "README: it has shell examples to run" {
	run readme_script
	assert_success
	[[ $(grep -c . <<<"$output") -ge 20 ]] || fail "only these lines: $output"
}

@test "README: every sh example runs and succeeds, in order" {
	readme_script >walkthrough.sh
	run --separate-stderr timeout 300 bash -euo pipefail walkthrough.sh
	[[ "$status" -eq 0 ]] || fail "README example failed ($status): $stderr
--- output
$output"
	# What the walkthrough printed shows the history it made.
	assert_line --partial "as commit 2"
	assert_line --regexp '^\* +2 .* applied .*nightly'
	[[ $(store_head disk.img.history) == 2 ]] || fail "head is not 2"
	[[ $(store_sql disk.img.history "SELECT value FROM meta WHERE key = 'oldest'") == 1 ]] ||
		fail "prune --keep-last 1 did not fold commit 1"
}

@test "README: a broken example fails this test (the check above can fail)" {
	{ readme_script; echo 'ovl-undo --to 99 vm.qcow2'; } >broken.sh
	run timeout 300 bash -euo pipefail broken.sh
	assert_failure
}
