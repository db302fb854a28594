#!/usr/bin/env bats
#
# The documentation cannot drift from the tools.  For every ovl tool built in
# $OVL_BUILDDIR, the hidden "--long-options" flag lists the tool's real long
# options, one per line; each must be described in man/TOOL.1 and offered by
# completions/TOOL (under $OVL_SRCDIR), and neither may name an option the
# tool does not have.  The common command-line behaviour is checked too:
# --help, --version, and the usage error for an unknown option.
#
# Tools that are not built (yet) are left out; at least one must be there.

bats_require_minimum_version 1.5.0

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

ALL_TOOLS=(ovl-renew ovl-commit ovl-undo ovl-history)

setup() {
	if [[ -z ${OVL_BUILDDIR-} ]]; then
		fail "OVL_BUILDDIR is not set: run this test through 'make check'"
	fi
	OVL_SRCDIR=${OVL_SRCDIR:-$BATS_TEST_DIRNAME/../..}
	# The tools are run by name, the way users run them; these copies first.
	PATH=$OVL_BUILDDIR:$PATH

	TOOLS=()
	local t
	for t in "${ALL_TOOLS[@]}"; do
		if [[ -x $OVL_BUILDDIR/$t ]]; then
			TOOLS+=("$t")
		fi
	done
	if ((${#TOOLS[@]} == 0)); then
		fail "no ovl tool is built in '$OVL_BUILDDIR' (looked for: ${ALL_TOOLS[*]})"
	fi
	PROBLEMS=()
}

# Record a problem; the test fails at the end, naming every problem found.
problem() {
	PROBLEMS+=("$*")
}

report_problems() {
	if ((${#PROBLEMS[@]} > 0)); then
		fail "$(printf '%s\n' "${PROBLEMS[@]}")"
	fi
}

# Set OPTS to TOOL's long options, as printed by "TOOL --long-options"
# ("--name" per line; a "=..." suffix is dropped, and the hidden
# --long-options itself is left out).  Fails the test if the list is
# unusable: a bad exit status, a line that is no option, no --help.
read_long_options() {
	local tool=$1 line
	OPTS=()
	run --separate-stderr "$tool" --long-options
	if ((status != 0)); then
		fail "'$tool --long-options' exited with status $status: $stderr"
	fi
	for line in "${lines[@]}"; do
		line=${line//[[:space:]]/}
		line=${line%%=*}
		if [[ -z $line || $line == --long-options ]]; then
			continue
		fi
		if [[ ! $line =~ ^--[[:alnum:]][[:alnum:]-]*$ ]]; then
			fail "'$tool --long-options' printed '$line', which is not a long option"
		fi
		OPTS+=("$line")
	done
	local must
	for must in --help --version; do
		if ! has_word "$must" "${OPTS[@]}"; then
			fail "'$tool --long-options' does not list $must (output: $output)"
		fi
	done
}

# Is WORD among the remaining arguments?
has_word() {
	local word=$1 w
	shift
	for w in "$@"; do
		if [[ $w == "$word" ]]; then
			return 0
		fi
	done
	return 1
}

# The roff source of a man page with the escapes that can sit inside an
# option name removed: \- becomes -, font changes (\fB \fI \fR \fP \f(XX
# \f[XX]) and the zero-width \& and \c vanish.
man_source_text() {
	sed -e 's/\\-/-/g' \
		-e 's/\\f[BIRP]//g' -e 's/\\f([A-Z][A-Z]//g' -e 's/\\f\[[^]]*\]//g' \
		-e 's/\\&//g' -e 's/\\c//g' "$1"
}

# A man page rendered as plain ASCII text, one unwrapped line per paragraph.
man_rendered_text() {
	groff -t -man -Tascii -P -cbou -rLL=400n -rHY=0 "$1" 2>/dev/null
}

# Does the text on stdin mention OPTION as a whole word ("--store" but not
# "--store-dir"; "--output=json" counts for --output)?
mentions_option() {
	grep -Eq -- "(^|[^[:alnum:]_-])$1([^[:alnum:]_-]|\$)"
}

# The words of every opts="..." / local opts='...' assignment (any variable
# whose name contains "opts") in a completion file.
completion_words() {
	sed -nE "s/^[[:space:]]*(local[[:space:]]+)?[[:alnum:]_]*opts[[:alnum:]_]*=[\"']([^\"']*)[\"'].*/\\2/p" "$1" |
		tr -s '[:space:]' '\n' | sed -e '/^$/d' -e 's/=.*//'
}

@test "docs: every tool has a man page and a bash completion" {
	local t
	for t in "${TOOLS[@]}"; do
		if [[ ! -f $OVL_SRCDIR/man/$t.1 ]]; then
			problem "$t: man/$t.1 is missing"
		fi
		if [[ ! -f $OVL_SRCDIR/completions/$t ]]; then
			problem "$t: completions/$t is missing"
		fi
	done
	report_problems
}

@test "docs: the man page documents every option of its tool" {
	local t opt page
	for t in "${TOOLS[@]}"; do
		page=$OVL_SRCDIR/man/$t.1
		if [[ ! -f $page ]]; then
			problem "$t: man/$t.1 is missing"
			continue
		fi
		read_long_options "$t"
		for opt in "${OPTS[@]}"; do
			if ! man_source_text "$page" | mentions_option "$opt"; then
				problem "$t: option $opt is missing from man/$t.1"
			fi
		done
	done
	report_problems
}

@test "docs: the man page's OPTIONS section names only real options" {
	local t opt page
	for t in "${TOOLS[@]}"; do
		page=$OVL_SRCDIR/man/$t.1
		if [[ ! -f $page ]]; then
			problem "$t: man/$t.1 is missing"
			continue
		fi
		read_long_options "$t"
		# The tag lines of the OPTIONS section: the line after each .TP.
		while read -r opt; do
			if ! has_word "$opt" "${OPTS[@]}"; then
				problem "$t: man/$t.1 describes $opt, which '$t --long-options' does not list"
			fi
		done < <(man_source_text "$page" |
			awk '/^\.SH/ { in_opts = ($2 == "OPTIONS") } in_opts && tag { print } { tag = /^\.TP/ }' |
			grep -oE -- '--[[:alnum:]][[:alnum:]-]*' | sort -u)
	done
	report_problems
}

@test "docs: the completion offers every option of its tool, and only those" {
	local t opt comp
	local -a words
	for t in "${TOOLS[@]}"; do
		comp=$OVL_SRCDIR/completions/$t
		if [[ ! -f $comp ]]; then
			problem "$t: completions/$t is missing"
			continue
		fi
		read_long_options "$t"
		mapfile -t words < <(completion_words "$comp")
		if ((${#words[@]} == 0)); then
			problem "$t: completions/$t has no opts=\"...\" line listing the options"
			continue
		fi
		for opt in "${OPTS[@]}"; do
			if ! has_word "$opt" "${words[@]}"; then
				problem "$t: option $opt is missing from completions/$t"
			fi
		done
		for opt in "${words[@]}"; do
			if [[ $opt == --?* ]] && ! has_word "$opt" "${OPTS[@]}"; then
				problem "$t: completions/$t offers $opt, which '$t --long-options' does not list"
			fi
		done
	done
	report_problems
}

@test "docs: the man page formats without groff warnings" {
	if ! command -v groff >/dev/null; then
		skip "groff is not installed"
	fi
	local t page
	for t in "${TOOLS[@]}"; do
		page=$OVL_SRCDIR/man/$t.1
		if [[ ! -f $page ]]; then
			problem "$t: man/$t.1 is missing"
			continue
		fi
		run --separate-stderr groff -t -man -ww -z -Tutf8 "$page"
		if ((status != 0)) || [[ -n $stderr ]]; then
			problem "$t: man/$t.1: groff (status $status): $stderr"
		fi
	done
	report_problems
}

@test "cli: --help exits 0 and prints a usage line that matches the man page SYNOPSIS" {
	local t usage line found
	local -a synopsis
	for t in "${TOOLS[@]}"; do
		run --separate-stderr "$t" --help
		if ((status != 0)); then
			problem "$t --help: exit status $status, expected 0"
		fi
		if [[ -n $stderr ]]; then
			problem "$t --help: unexpected output on stderr: $stderr"
		fi
		usage=
		for line in "${lines[@]}"; do
			if [[ $line =~ ^Usage:\ $t(\ |$) ]]; then
				usage=${line#Usage: }
				break
			fi
		done
		if [[ -z $usage ]]; then
			problem "$t --help: no line starting with 'Usage: $t' in: $output"
			continue
		fi
		if [[ $output == *--long-options* ]]; then
			problem "$t --help: mentions the hidden --long-options"
		fi

		[[ -f $OVL_SRCDIR/man/$t.1 ]] && command -v groff >/dev/null || continue
		mapfile -t synopsis < <(man_rendered_text "$OVL_SRCDIR/man/$t.1" |
			awk '/^[A-Z]/ { in_syn = ($0 == "SYNOPSIS"); next } in_syn && NF { $1 = $1; print }')
		usage=$(tr -s ' ' <<<"$usage")
		found=no
		for line in "${synopsis[@]}"; do
			if [[ $line == "$usage" ]]; then
				found=yes
			fi
		done
		if [[ $found == no ]]; then
			problem "$t --help: usage '$usage' is not in the SYNOPSIS of man/$t.1: $(printf "'%s' " "${synopsis[@]}")"
		fi
	done
	report_problems
}

@test "cli: --version prints 'TOOL (ovl) VERSION' and exits 0" {
	local t want_version=
	if [[ -f $OVL_BUILDDIR/config.h ]]; then
		want_version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$OVL_BUILDDIR/config.h")
	fi
	for t in "${TOOLS[@]}"; do
		run --separate-stderr "$t" --version
		if ((status != 0)); then
			problem "$t --version: exit status $status, expected 0"
		fi
		if [[ ! ${lines[0]-} =~ ^$t\ \(ovl\)\ [0-9]+(\.[0-9]+)*[^[:space:]]*$ ]]; then
			problem "$t --version: first line is '${lines[0]-}', expected '$t (ovl) VERSION'"
		elif [[ -n $want_version && ${lines[0]} != "$t (ovl) $want_version" ]]; then
			problem "$t --version: '${lines[0]}', but configure says version $want_version"
		fi
	done
	report_problems
}

@test "cli: an unknown option exits 2 with a hint to --help on stderr only" {
	local t bad
	for t in "${TOOLS[@]}"; do
		for bad in --no-such-option -Z; do
			run --separate-stderr "$t" "$bad" operand.img
			if ((status != 2)); then
				problem "$t $bad: exit status $status, expected 2 (usage error)"
			fi
			if [[ $stderr != *--help* ]]; then
				problem "$t $bad: stderr does not mention --help: '$stderr'"
			fi
			if [[ $stderr != *"${bad#-}"* ]]; then
				problem "$t $bad: stderr does not name the bad option: '$stderr'"
			fi
			if [[ -n $output ]]; then
				problem "$t $bad: unexpected output on stdout: '$output'"
			fi
		done
	done
	report_problems
}
