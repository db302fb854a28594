#!/usr/bin/env bats
# ovl-undo against random histories (fixed seeds, so every run is the same
# run and a failure can be replayed from its seed).
#
# Each test makes one history for real: a base, its overlay, and about ten
# ovl-commit runs of random guest writes through the overlay -- overlapping
# writes, sub-cluster writes at odd offsets, zero writes, discards, now and
# then compressed writes -- with the base growing at some point (the
# overlay created bigger than the base, or resized between commits, the
# guest only writing past the base's end later).  Before each commit the
# guest's view is copied ($R/ref-N.raw: state N).  Then a random walk of
# undos and redos, by --to, --steps or the default, by the extents method
# or replay, and in some histories a new commit made after an undo (the
# undone states become abandoned: going there must fail).  After every
# move the base must read like the reference of the state it went to and
# have its size; results of the two methods are also compared directly.
#
# The walk is planned by a small python script from the seed; its lines
# are carried out here.

load helpers

setup() {
	ovl_setup_private_tmpdir
}

teardown() {
	ovl_teardown
}

# plan SEED FMT BASE_MIB GROWTH OVERLAY_OPTS COMPRESS ABANDON: the
# history and the walk, one step a line, fields separated by tabs:
#   base   FMT BYTES
#   overlay BYTES OPTS            (OPTS: qemu-img create -o, or -)
#   commit N CMD|CMD|...          (qemu-io commands of the guest)
#   resize BYTES                  (the overlay, between commits)
#   move TARGET METHOD ARGS       (ovl-undo ARGS; METHOD for the message)
#   gone ARGS                     (ovl-undo ARGS must exit 1: abandoned)
#   same ARGS                     (already there: exit 0, nothing changes)
plan() {
	python3 - "$@" <<'EOF'
import random, sys

seed = int(sys.argv[1])
fmt, base_mib, growth = sys.argv[2], int(sys.argv[3]), sys.argv[4]
ovl_opts, compress, abandon = sys.argv[5], sys.argv[6] == "yes", sys.argv[7] == "yes"
rnd = random.Random(seed)
MiB = 1 << 20
base_size = base_mib * MiB
out = []

def emit(*fields):
    out.append("\t".join(str(f) for f in fields))

emit("base", fmt, base_size)
ncommits = rnd.randint(8, 12)
grow_at = rnd.randint(3, ncommits - 2)      # first commit writing past the base
grown_size = base_size + rnd.choice([8, 16]) * MiB
ovl_size = grown_size if growth == "start" else base_size
emit("overlay", ovl_size, ovl_opts)
guest_size = ovl_size
limit = base_size                          # where the guest writes, for now

def one_op(compressed):
    kind = "compress" if compressed else rnd.choices(["data", "small", "zero", "discard"],
                                                     [40, 25, 15, 12])[0]
    if kind == "small":
        length = rnd.choice([512, 1024, 1536, 4096, 3584, 8192])
    elif kind == "compress":
        length = 65536
    else:
        length = rnd.choice([65536, 131072, 512 * rnd.randint(1, 4096),
                             65536 * rnd.randint(1, 48)])
    length = min(length, limit)
    if kind == "compress":
        off = 65536 * rnd.randrange(0, limit // 65536)
    else:
        off = 512 * rnd.randrange(0, (limit - length) // 512 + 1)
    # Now and then right at the end of what the guest may write.
    if kind != "compress" and rnd.random() < 0.1:
        off = limit - length
    pat = rnd.randint(1, 255)
    if kind in ("data", "small"):
        return "write -P %d %d %d" % (pat, off, length)
    if kind == "zero":
        return "write -z%s %d %d" % (rnd.choice(["", "u"]), off, length)
    if kind == "discard":
        return "discard %d %d" % (off, length)
    return "write -c -P %d %d %d" % (pat, off, length)

# Compressed data cannot be copied from an archive: moves that need it
# fall back to replay.  One commit writes some, so that most moves can
# still use the extents method.
compress_in = [rnd.randint(2, ncommits)] if compress else []

def commit(n):
    ops = [one_op(False) for _ in range(rnd.randint(1, 6))]
    if n in compress_in:
        ops.insert(rnd.randrange(len(ops) + 1), one_op(True))
    # Overlapping writes in one commit, and across commits.
    if rnd.random() < 0.5:
        w = ops[0].split()
        if w[0] == "write" and w[1] == "-P":
            length = 512 * rnd.randint(1, 8)
            off = min(int(w[3]) + 512 * rnd.randint(0, 64), limit - length)
            ops.append("write -P %d %d %d" % (rnd.randint(1, 255), off, length))
    emit("commit", n, "|".join(ops))

for n in range(1, ncommits + 1):
    if n == grow_at:
        if growth == "resize":
            emit("resize", grown_size)
            guest_size = grown_size
        limit = guest_size
    commit(n)

# The walk.
kept = list(range(0, ncommits + 1))
gone = []
head = ncommits
last = ncommits
moves = rnd.randint(10, 14)
recommit_at = rnd.randint(3, moves - 3) if abandon else -1
i = moved = 0
while moved < moves:
    i += 1
    if i >= recommit_at >= 0 and head != kept[-1]:
        recommit_at = -1
        # A new commit after an undo: the states after head are abandoned.
        gone += [s for s in kept if s > head]
        kept = [s for s in kept if s <= head]
        last += 1
        commit(last)
        kept.append(last)
        head = last
        continue
    method = "replay" if rnd.random() < 0.3 else "extents"
    margs = ["--method=replay"] if method == "replay" else []
    r = rnd.random()
    at = kept.index(head)
    if gone and r < 0.1:
        emit("gone", " ".join(["--to", str(rnd.choice(gone))] + margs))
        continue
    if r < 0.05:
        emit("same", " ".join(["--to", str(head)] + margs))
        continue
    if r < 0.3 and at > 0:
        k = rnd.randint(1, min(at, 4))
        target = kept[at - k]
        args = ([] if k == 1 and rnd.random() < 0.5 else ["--steps", str(k)])
    else:
        target = rnd.choice([s for s in kept if s != head])
        args = ["--to", str(target)]
    emit("move", target, method, " ".join(args + margs))
    moved += 1
    head = target
print("\n".join(out))
EOF
}

# The checks after a move to state N (by METHOD): the base reads like
# state N's reference and has its size, the store agrees, the overlay is
# empty, nothing is left behind; the same state by the other method read
# the same.
check_state() {
	local n=$1 method=$2 what=$3 got want
	got=$(virtual_size "$BASE" "$BFMT")
	want=$(virtual_size "$R/ref-$n.raw" raw)
	[[ "$got" == "$want" ]] ||
		fail "$what: base is $got bytes, state $n is $want bytes"
	run qemu-img compare -U -f "$BFMT" -F raw "$BASE" "$R/ref-$n.raw"
	[[ "$status" -eq 0 ]] ||
		fail "$what: base does not read like state $n (qemu-img compare: $status $output)"
	if [[ "$BFMT" == qcow2 ]]; then
		run qemu-img check -q -f qcow2 "$BASE"
		[[ "$status" -eq 0 ]] || fail "$what: qemu-img check of the base: $output"
	fi
	[[ "$(store_head "$STORE")" == "$n" ]] ||
		fail "$what: the store says head is $(store_head "$STORE"), not $n"
	[[ "$(store_sql "$STORE" 'SELECT count(*) FROM journal')" == 0 ]] ||
		fail "$what: journal not empty"
	assert_overlay_empty vm.ovl "$BASE" "$BFMT"
	assert_no_leftovers . "$STORE"

	# Extents and replay, compared directly.
	local other=extents
	[[ "$method" == extents ]] && other=replay
	if [[ -f "$R/by-$other-$n.raw" ]]; then
		run qemu-img compare -U -f "$BFMT" -F raw "$BASE" "$R/by-$other-$n.raw"
		[[ "$status" -eq 0 ]] ||
			fail "$what: $method and $other give different state $n: $output"
	fi
	[[ -f "$R/by-$method-$n.raw" ]] || raw_ref "$BASE" "$BFMT" "$R/by-$method-$n.raw"
}

# random_history SEED FMT BASE_MIB GROWTH OVERLAY_OPTS COMPRESS ABANDON
random_history() {
	local seed=$1 line op a b c moves=0 by_extents=0 used what
	local -a cmds args steps
	plan "$@" >"$R/plan" || fail "seed $seed: cannot plan"
	# Read whole first: nothing run below may eat the plan from stdin.
	mapfile -t steps <"$R/plan"
	for line in "${steps[@]}"; do
		IFS=$'\t' read -r op a b c <<<"$line"
		case "$op" in
		base)
			BFMT=$a
			if [[ "$BFMT" == raw ]]; then
				BASE=base.img
				make_base "$BASE" "$b"
			else
				BASE=base.qcow2
				qemu-img create -q -f qcow2 "$BASE" "$b"
				qio "$BASE" qcow2 'write -P 0x5a 0 1M' "write -P 0xa5 $((b - 65536)) 64k"
			fi
			qio "$BASE" "$BFMT" 'write -P 0x5b 3M 1M' 'write -P 0x5c 200k 7k'
			STORE=$PWD/$BASE.history
			raw_ref "$BASE" "$BFMT" "$R/ref-0.raw"
			;;
		overlay)
			if [[ "$b" == - ]]; then b=''; fi
			make_overlay vm.ovl "$BASE" "$BFMT" "$b" "$a" ||
				fail "seed $seed: cannot create the overlay"
			;;
		resize)
			qemu-img resize -q -f qcow2 vm.ovl "$a" ||
				fail "seed $seed: cannot resize the overlay"
			;;
		commit)
			IFS='|' read -ra cmds <<<"$b"
			qio vm.ovl qcow2 "${cmds[@]}" || fail "seed $seed: qemu-io failed: $b"
			raw_ref vm.ovl qcow2 "$R/ref-$a.raw"
			run --separate-stderr timeout 120 ovl-commit -q -m "random $a" vm.ovl
			[[ "$status" -eq 0 ]] ||
				fail "seed $seed: ovl-commit of commit $a exited $status: $stderr"
			[[ "$(store_sql "$STORE" 'SELECT max(seq) FROM commits')" == "$a" ]] ||
				fail "seed $seed: commit $a got another number"
			run qemu-img compare -U -q -f "$BFMT" -F raw "$BASE" "$R/ref-$a.raw"
			[[ "$status" -eq 0 ]] || fail "seed $seed: commit $a: base is not state $a"
			;;
		move)
			read -ra args <<<"$c"
			moves=$((moves + 1))
			what="seed $seed, move $moves: ovl-undo ${args[*]} vm.ovl (head $(store_head "$STORE"), want state $a)"
			run_undo --output=json "${args[@]}" vm.ovl
			[[ "$status" -eq 0 ]] || fail "$what: exit $status: $stderr"
			used=$(sed -n 's/.*"method": *"\([a-z]*\)".*/\1/p' <<<"$output")
			case "$b/$used" in
			replay/replay | extents/replay) ;;
			extents/extents) by_extents=$((by_extents + 1)) ;;
			*) fail "$what: asked for $b, done by '$used': $output" ;;
			esac
			check_state "$a" "$used" "$what"
			;;
		gone | same)
			read -ra args <<<"$a"
			local before head
			before=$(sha "$BASE")
			head=$(store_head "$STORE")
			run_undo "${args[@]}" vm.ovl
			if [[ "$op" == gone ]]; then
				[[ "$status" -eq 1 && "$stderr" == *abandoned* ]] ||
					fail "seed $seed: ovl-undo ${args[*]} (abandoned) exited $status: $stderr"
			else
				[[ "$status" -eq 0 ]] ||
					fail "seed $seed: ovl-undo ${args[*]} (already there) exited $status: $stderr"
			fi
			[[ "$(sha "$BASE")" == "$before" && "$(store_head "$STORE")" == "$head" ]] ||
				fail "seed $seed: ovl-undo ${args[*]} changed the base"
			;;
		esac
	done
	((moves >= 8)) || fail "seed $seed: only $moves moves planned"
	((by_extents >= 3)) || fail "seed $seed: only $by_extents moves by the extents method"
}

@test "random history 1: raw base, overlay bigger from the start" {
	random_history 1001 raw 32 start - no no
}

@test "random history 2: qcow2 base, overlay resized mid-history, compressed writes" {
	random_history 2002 qcow2 32 resize - yes no
}

@test "random history 3: raw base, extended L2 overlay, resized, abandoned commits" {
	random_history 3003 raw 24 resize extended_l2=on,cluster_size=128k no yes
}

@test "random history 4: qcow2 base, 4 KiB clusters, compressed, abandoned commits" {
	random_history 4004 qcow2 24 start cluster_size=4096 yes yes
}

@test "random history 5: raw base, compressed writes, abandoned commits" {
	random_history 5005 raw 32 resize - yes yes
}
