#!/usr/bin/env bash
# A short tour of ovl on sample images made in a fresh temporary directory
# (removed at the end).  Uses the tools built in build/normal; the parts about
# ovl-commit, ovl-undo and ovl-history run only once those tools are built.
# Every command is printed ("+ cmd") before it runs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bindir=$root/build/normal

if [[ ! -x $bindir/ovl-renew ]]; then
	echo "demo: $bindir/ovl-renew not found; run scripts/build.sh normal first" >&2
	exit 1
fi
for tool in qemu-img qemu-io; do
	command -v "$tool" >/dev/null || { echo "demo: $tool not found (apt-get install qemu-utils)" >&2; exit 1; }
done

# The tools are run by name, as an administrator would.
PATH=$bindir:$PATH

work=$(mktemp -d "${TMPDIR:-/tmp}/ovl-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

say() { printf '\n## %s\n' "$*"; }

# Print a command as one would type it: words quoted only where needed.
show() {
	local word out=+
	for word; do
		if [[ $word =~ ^[[:alnum:]_./:=@%+,-]+$ ]]; then
			out+=" $word"
		else
			out+=" '${word//\'/\'\\\'\'}'"
		fi
	done
	printf '%s\n' "$out"
}

# Print a command, then run it; stop the demo if it fails.  Its stderr goes
# to stdout so that messages stay in order when the demo's output is piped.
run() {
	show "$@"
	"$@" 2>&1
}

# Print a command, run it, and check that it exits with status WANT.
run_expect() {
	local want=$1 status=0
	shift
	show "$@"
	"$@" 2>&1 || status=$?
	if ((status != want)); then
		echo "demo: expected exit status $want, got $status" >&2
		exit 1
	fi
	echo "(exit status $status, as expected)"
}

have() { [[ -x $bindir/$1 ]]; }

say "A 64 MiB raw base and a qcow2 overlay on it, as a VM would use them"
run qemu-img create -f raw base.img 64M
run qemu-img create -f qcow2 -b base.img -F raw vm.ovl

say "ovl-renew replaces an overlay with a fresh empty one, at the same path"
run ovl-renew vm.ovl
run qemu-img info vm.ovl

say "The VM writes 1 MiB into its overlay"
run qemu-io -f qcow2 -c 'write -P 0xab 0 1M' vm.ovl

say "Now the overlay holds data: ovl-renew refuses (exit 1) ..."
run_expect 1 ovl-renew vm.ovl

say "... unless told to throw that data away"
run ovl-renew --discard vm.ovl
run qemu-img compare -f qcow2 -F raw vm.ovl base.img

if ! have ovl-commit; then
	say "ovl-commit, ovl-undo and ovl-history are not built yet: that's all for now"
	exit 0
fi

# Reference copies of what the guest saw, kept out of the images' directory.
mkdir ref

say "Commit with history: the overlay goes into the base, its old self into base.img.history/"
run qemu-io -f qcow2 -c 'write -P 0xab 0 1M' vm.ovl
run qemu-img convert -f qcow2 -O raw vm.ovl ref/state1.img
run ovl-commit -m 'first write' vm.ovl
run qemu-img compare -f raw -F raw base.img ref/state1.img

say "A second commit"
run qemu-io -f qcow2 -c 'write -P 0xcd 1M 1M' vm.ovl
run qemu-img convert -f qcow2 -O raw vm.ovl ref/state2.img
run ovl-commit -m 'second write' vm.ovl
run qemu-img compare -f raw -F raw base.img ref/state2.img

if have ovl-history; then
	say "The history of the base"
	run ovl-history list vm.ovl
fi

if have ovl-undo; then
	say "Undo one step: the base is back in the state of commit 1"
	run ovl-undo vm.ovl
	run qemu-img compare -f raw -F raw base.img ref/state1.img
	run qemu-img compare -f qcow2 -F raw vm.ovl ref/state1.img
	if have ovl-history; then
		run ovl-history list vm.ovl
	fi
fi

say "Done"
