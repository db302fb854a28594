#!/usr/bin/env bash
# Build ovl out of tree:  scripts/build.sh [normal|sanitizers] [CONFIGURE-OPTION...]
#
#   normal      build/normal, default configure options
#   sanitizers  build/sanitizers, configured with --enable-sanitizers
#
# The autotools files are regenerated (autoreconf -fi) when ./configure is
# missing or older than configure.ac or Makefile.am.  configure is run again
# when the build directory has no Makefile, when ./configure changed, or when
# extra CONFIGURE-OPTIONs are given.
set -euo pipefail

mode=${1:-normal}
(($# > 0)) && shift
case $mode in
normal) flags=() ;;
sanitizers) flags=(--enable-sanitizers) ;;
-h | --help)
	sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	printf 'build: unknown build %q (expected normal or sanitizers)\n' "$mode" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf 'build(%s): %s\n' "$mode" "$*"; }

if [[ -f config.status ]]; then
	printf 'build: %s is configured in-tree; run "make distclean" there first\n' "$root" >&2
	exit 1
fi

if [[ ! -x configure || ! -f Makefile.in || ! -f build-aux/tap-driver.sh ||
	configure.ac -nt configure || Makefile.am -nt configure ]]; then
	say "autoreconf -fi"
	autoreconf -fi
fi

dir=build/$mode
mkdir -p "$dir"
cd "$dir"
if [[ ! -f Makefile || ! -f config.status || ../../configure -nt config.status ]] || (($# > 0)); then
	say "../../configure ${flags[*]} $*"
	../../configure "${flags[@]}" "$@"
fi

say "make -j2 in $dir"
make -j2
