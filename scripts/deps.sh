#!/usr/bin/env bash
# Install the Debian 12 packages that ovl needs to build and test -- only the
# ones that are missing, so a second run changes nothing and needs no root.
#
# Required packages must install or this script fails.  The optional group
# (libguestfs for "ovl-history diff" and the guest-filesystem tests, a kernel
# and qemu-system for libguestfs's appliance and for live-VM lock tests) is
# installed too, but a failure there is only a warning.
#
# One line per action on stdout; apt's own output goes to a log that is shown
# only when apt fails.
set -euo pipefail

required=(
	build-essential autoconf automake pkg-config
	libpopt-dev libsqlite3-dev libjansson-dev libselinux1-dev libxxhash-dev
	qemu-utils qemu-block-extra
	bats bats-assert bats-support
	e2fsprogs python3 python3-xxhash sqlite3
	bsdutils   # script(1): progress.bats runs the tools on a pseudo-terminal
	debhelper lintian systemd man-db
	clang libclang-rt-14-dev
)
optional=(
	libguestfs-dev libguestfs-tools linux-image-amd64 qemu-system-x86
)

say() { printf 'deps: %s\n' "$*"; }
warn() { printf 'deps: warning: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

# The packages among "$@" that dpkg does not know as installed.
missing_among() {
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || status=
		[[ $status == installed ]] || printf '%s\n' "$p"
	done
}

command -v dpkg-query >/dev/null || die "dpkg-query not found: this script is for Debian 12"

mapfile -t miss_req < <(missing_among "${required[@]}")
mapfile -t miss_opt < <(missing_among "${optional[@]}")

if ((${#miss_req[@]} == 0 && ${#miss_opt[@]} == 0)); then
	say "all ${#required[@]} required and ${#optional[@]} optional packages are installed"
	exit 0
fi

if ((EUID != 0)); then
	if ((${#miss_req[@]} > 0)); then
		die "missing packages: ${miss_req[*]}; run this script as root to install them"
	fi
	warn "optional packages missing: ${miss_opt[*]} (run as root to install them)"
	say "all ${#required[@]} required packages are installed"
	exit 0
fi

log=$(mktemp "${TMPDIR:-/tmp}/ovl-deps.XXXXXX")
trap 'rm -f "$log"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt_install() {
	apt-get install -y --no-install-recommends "$@" </dev/null >>"$log" 2>&1
}
show_log() {
	tail -n 40 "$log" | sed 's/^/deps:   | /' >&2
}

say "running apt-get update"
if ! apt-get update </dev/null >>"$log" 2>&1; then
	show_log
	if ((${#miss_req[@]} > 0)); then
		die "apt-get update failed"
	fi
	warn "apt-get update failed; trying to install the optional packages anyway"
fi

if ((${#miss_req[@]} > 0)); then
	say "installing required: ${miss_req[*]}"
	if ! apt_install "${miss_req[@]}"; then
		show_log
		die "could not install: ${miss_req[*]}"
	fi
fi

if ((${#miss_opt[@]} > 0)); then
	say "installing optional: ${miss_opt[*]}"
	if ! apt_install "${miss_opt[@]}"; then
		# One bad package must not keep the others out: try them one by one.
		for p in "${miss_opt[@]}"; do
			if apt_install "$p"; then
				say "installed optional: $p"
			else
				warn "optional package $p could not be installed; features that need it will be skipped"
			fi
		done
	fi
fi

mapfile -t still < <(missing_among "${required[@]}")
((${#still[@]} == 0)) || die "still missing after install: ${still[*]}"
say "done"
