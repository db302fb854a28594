# Shared helpers for the benchmarks in bench/.  Sourced, not run.
# shellcheck shell=bash

# The ovl binaries: $OVL_BIN, else build/normal beside this script.
bench_setup() {
	here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
	OVL_BIN=${OVL_BIN:-$here/../build/normal}
	[[ -x $OVL_BIN/ovl-commit ]] || { echo "bench: no ovl binaries in $OVL_BIN (build first)" >&2; exit 1; }
	PATH=$OVL_BIN:$PATH
	# On disk, not tmpfs: page cache effects are what we measure.
	work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ovl-bench.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	can_drop=0
	if [[ -w /proc/sys/vm/drop_caches ]]; then can_drop=1; fi
}

now() { printf '%s\n' "$EPOCHREALTIME"; }

# Seconds taken by "$@" (stdout/stderr discarded; a failure aborts).
time_cmd() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; exit 1; }
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
}

drop_caches() {
	sync
	if ((can_drop)); then echo 3 >/proc/sys/vm/drop_caches; fi
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Write MIB mebibytes of pseudo-random data into qcow2 image FILE, in 1 MiB
# pieces at 1 MiB-aligned offsets below LIMIT_MIB, chosen by SEED.
fill_image() {
	local fmt=$1 file=$2 mib=$3 limit=$4 seed=$5 i cmds=()
	RANDOM=$seed
	for ((i = 0; i < mib; i++)); do
		cmds+=(-c "write -P $((RANDOM % 250 + 1)) $(((RANDOM * 32768 + RANDOM) % limit))M 1M")
	done
	qemu-io -f "$fmt" "${cmds[@]}" "$file" >/dev/null
}

# A / B as a decimal.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {print (b > 0) ? a / b : 0}'; }
