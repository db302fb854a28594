#!/usr/bin/env bats
# -p: a progress bar like qemu-img's, "    (NN.NN/100%)\r" then a newline,
# on a terminal only.  Each tool runs under a pseudo-terminal made by
# util-linux script(1), on images with enough data (128 MiB per commit)
# that the work reports intermediate percentages; the same command with
# stdout to a pipe, or with -q, prints no bar at all.

load helpers

setup() {
	ovl_setup_private_tmpdir
	command -v script >/dev/null || skip "script(1) (util-linux, bsdutils) is needed"
}

teardown() {
	ovl_teardown
}

# on_tty CMD...: run CMD with stdout on a pseudo-terminal; $output holds
# what the terminal got, carriage returns made newlines.
on_tty() {
	local cmd
	cmd=$(printf '%q ' "$@")
	run --separate-stderr timeout 60 script -qec "$cmd" /dev/null
	output=${output//$'\r'/$'\n'}
}

# The percentages drawn in $output, one a line ("12.34").
percentages() {
	grep -o '([0-9]*\.[0-9][0-9]/100%)' <<<"$output" | sed 's|^(||; s|/100%)$||'
}

# assert_one_bar: $output holds exactly one bar: it starts at 0.00, ends
# at 100.00 once, shows at least one value in between, never goes back.
assert_one_bar() {
	local p
	p=$(percentages)
	[[ -n "$p" ]] || fail "no progress drawn: $output"
	assert_equal "$(head -n1 <<<"$p")" "0.00"
	assert_equal "$(tail -n1 <<<"$p")" "100.00"
	assert_equal "$(grep -c '^100\.00$' <<<"$p")" 1
	grep -qvE '^(0\.00|100\.00)$' <<<"$p" || fail "no intermediate percentage: $p"
	sort -n -c <<<"$p" || fail "the percentages go back: $(tr '\n' ' ' <<<"$p")"
}

# assert_no_bar: no percentage in $output.
assert_no_bar() {
	[[ "$output" != *"/100%)"* ]] || fail "a bar was drawn: $output"
}

# guest_writes N: 128 MiB of pattern N in the overlay.
guest_writes() {
	qio vm.ovl qcow2 "write -P $((0x10 + $1)) 0 128M" || fail "qemu-io failed"
}

# history_of N: a 256 MiB raw base, its overlay, N commits of 128 MiB.
history_of() {
	local n
	make_base base.img 256M
	make_overlay vm.ovl base.img raw
	for ((n = 1; n <= $1; n++)); do
		guest_writes "$n"
		ovl-commit -q vm.ovl || fail "ovl-commit $n failed"
	done
}

@test "ovl-commit -p: one bar from qemu-img's own progress on a terminal" {
	history_of 1
	guest_writes 2
	on_tty ovl-commit -p vm.ovl
	assert_success
	assert_one_bar
	[[ "$output" == *"committed 'vm.ovl'"* ]] || fail "no summary: $output"
}

@test "ovl-commit -p --no-history: the bar too" {
	make_base base.img 256M
	make_overlay vm.ovl base.img raw
	guest_writes 1
	on_tty ovl-commit -p --no-history vm.ovl
	assert_success
	assert_one_bar
}

@test "ovl-commit -p with stdout to a pipe, and -q -p on a terminal: no bar" {
	history_of 1
	guest_writes 2
	run --separate-stderr ovl-commit -p vm.ovl
	assert_success
	assert_no_bar
	guest_writes 3
	on_tty ovl-commit -q -p vm.ovl
	assert_success
	assert_no_bar
	assert_equal "$output" ""
}

@test "ovl-undo -p by extents: one bar of the bytes copied" {
	history_of 3
	on_tty ovl-undo -p --to 1 vm.ovl
	assert_success
	assert_one_bar
	assert_equal "$(store_head base.img.history)" 1
}

@test "ovl-undo -p --method=replay: one bar over every archive replayed" {
	history_of 3
	on_tty ovl-undo -p --method=replay --to 2 vm.ovl
	assert_success
	assert_one_bar
	assert_equal "$(store_head base.img.history)" 2
}

@test "ovl-undo -p with stdout to a pipe, and -q -p: no bar" {
	history_of 2
	run --separate-stderr timeout 60 ovl-undo -p --to 1 vm.ovl
	assert_success
	assert_no_bar
	on_tty ovl-undo -q -p --method=replay --to 0 vm.ovl
	assert_success
	assert_no_bar
}

@test "ovl-history prune -p: one bar over every archive folded" {
	history_of 3
	on_tty ovl-history -p prune --keep-last 1 vm.ovl
	assert_success
	assert_one_bar
	[[ "$output" == *"folded 2 commits"* ]] || fail "no summary: $output"
}

@test "ovl-history prune -p with stdout to a pipe, and -q -p: no bar" {
	history_of 3
	run --separate-stderr timeout 60 ovl-history -p prune --keep-last 2 vm.ovl
	assert_success
	assert_no_bar
	on_tty ovl-history -q -p prune --keep-last 1 vm.ovl
	assert_success
	assert_no_bar
}

@test "ovl-history verify -p: one bar of the bytes digested and files checked" {
	history_of 2
	on_tty ovl-history -p verify vm.ovl
	assert_success
	assert_one_bar
	[[ "$output" == *"is sound"* ]] || fail "no summary: $output"
}

@test "ovl-history verify -p: no bar to a pipe, with -q, or with JSON on a terminal" {
	history_of 1
	run --separate-stderr ovl-history -p verify vm.ovl
	assert_success
	assert_no_bar
	on_tty ovl-history -q -p verify vm.ovl
	assert_success
	assert_no_bar
	on_tty ovl-history -p --output=json verify vm.ovl
	assert_success
	assert_no_bar
	python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$output" ||
		fail "not JSON: $output"
}
