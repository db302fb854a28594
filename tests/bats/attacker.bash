# The attacker of the root-safety suites.  -*- shell-script -*-
#
# Load after helpers.bash.  The tests run as root (as ovl does in
# production); an unprivileged user plays the attacker: the VM's owner, who
# can rewrite the overlay and anything in directories they can write, and
# whose guest controls every byte of the disk.  Root then runs ordinary ovl
# commands, and the test proves with checksums (snap, sha) that nothing of
# root's was touched.
#
#   attacker_setup   after ovl_setup: makes
#     $ATK        a tree everyone can traverse (0711, root's)
#     $ATK/user   the attacker's own directory (owned by ATK_UID, 0755):
#                 put the VM's images here, they are the attacker's
#     $ATK/root   root's private directory (0700): victims live here
#     $VICTIM     $ATK/root/victim, a root-only file (0600) with known data
#   as_attacker CMD...   run CMD as the attacker (no groups, no caps)
#   atk_own PATH...      give PATHs to the attacker
#   victim_sum           the checksum listing of $ATK/root (snap): take it
#                        before, compare after
#   attacker_teardown    kills this test's attacker processes (those whose
#                        working directory is in $ATK), removes $ATK

# A system user of the suite's own (made on first use), so that killing
# whatever runs under its uid can never hit a daemon of the machine.
ATK_USER=ovl-attacker

_attacker_user() {
	if ! id -u "$ATK_USER" >/dev/null 2>&1; then
		# Two suites may race here; the loser finds the user made.
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --user-group "$ATK_USER" 2>/dev/null || true
	fi
	ATK_UID=$(id -u "$ATK_USER") && ATK_GID=$(id -g "$ATK_USER")
}

attacker_setup() {
	[[ $(id -u) -eq 0 ]] || skip "the attacker suites run as root"
	command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
	_attacker_user || fail "cannot make the test user $ATK_USER"
	# /tmp itself is world-traversable; BATS_TEST_TMPDIR's parents are not.
	ATK=$(mktemp -d /tmp/ovl-atk.XXXXXX) || return 1
	chmod 0711 "$ATK"
	mkdir -m 0755 "$ATK/user"
	chown "$ATK_UID:$ATK_GID" "$ATK/user"
	mkdir -m 0700 "$ATK/root"
	VICTIM=$ATK/root/victim
	head -c 1M /dev/urandom >"$VICTIM"
	chmod 0600 "$VICTIM"
	export ATK VICTIM
}

as_attacker() {
	setpriv --reuid="$ATK_UID" --regid="$ATK_GID" --clear-groups \
		--inh-caps=-all --bounding-set=-all -- "$@"
}

atk_own() {
	chown -h "$ATK_UID:$ATK_GID" -- "$@"
}

victim_sum() {
	snap "$ATK/root"
}

attacker_teardown() {
	# Only this test's attacker processes (those working in $ATK): suites
	# run in parallel (make -j2) share the user, and a blanket kill by uid
	# would kill another suite's attacker mid-test.
	local pid cwd
	for pid in $(pgrep -U "${ATK_UID:-none}" 2>/dev/null); do
		cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
		[[ -n "${ATK:-}" && ( "$cwd" == "$ATK" || "$cwd" == "$ATK"/* ) ]] && kill -KILL "$pid" 2>/dev/null
	done
	if [[ -n "${ATK:-}" && -d "$ATK" ]]; then
		rm -rf -- "$ATK"
	fi
	return 0
}
