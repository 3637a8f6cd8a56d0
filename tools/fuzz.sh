#!/usr/bin/env bash
# fuzz.sh PKG FUNC FUZZTIME MINIMIZE: one fuzz target, as `make fuzz` runs it.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" at the end of a duration -fuzztime when the machine is loaded:
# its stop check races the deadline (go.dev/issue/75804, fixed in Go 1.27).
# That is no finding: no input is written and nothing fails. It is told
# apart here and the corpus is replayed, so CI fails on real findings only:
# a written reproducer, a panic, a failed check, or a replay that fails.
set -u
pkg=$1 fn=$2 fuzztime=$3 minimize=$4
go=${GO:-go}
corpus="$pkg/testdata/fuzz/$fn"
before=$(ls "$corpus" 2>/dev/null | sort)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$go" test -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" -parallel 1 "$pkg" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] && exit 0
after=$(ls "$corpus" 2>/dev/null | sort)
# What the failure said, between "--- FAIL: FUNC" and the closing FAIL.
said=$(sed -n "/^--- FAIL: $fn /,/^FAIL\$/p" "$out" | sed '1d;$d' | grep -v '^exit status' | sed 's/^ *//')
if [ "$before" = "$after" ] && [ "$said" = "context deadline exceeded" ] && ! grep -q 'Failing input written' "$out"; then
	echo "fuzz: $fn: Go's fuzz coordinator stopped on its own deadline (go.dev/issue/75804, fixed in Go 1.27): no input failed; replaying the corpus"
	exec "$go" test -count=1 -run "^$fn\$" "$pkg"
fi
exit "$rc"
