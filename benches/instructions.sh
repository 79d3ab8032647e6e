#!/usr/bin/env bash
# Instructions per call of every case of the `layers` benchmark, counted by callgrind: exact
# and repeatable, where timings are noisy. Each case runs N and 2N calls; the difference of
# the two totals, divided by N, is one call (setup and runtime start cancel out).
#
#   benches/instructions.sh                 # every case
#   benches/instructions.sh breaker         # cases whose group/case contains "breaker"
#
# Needs valgrind. Clock reads (open breaker, timeout) run differently under valgrind than on
# the CPU, so their counts say little about their time.
set -euo pipefail
cd "$(dirname "$0")/.."

filter=${1:-}
# A million calls: the setup's count varies between runs by up to two million instructions
# (hash seeds, lazy statics), which a million calls bring to about two per call.
calls=${CALLS:-1000000}

# FEATURES=metrics counts with staunch's `metrics` feature on and a recorder installed.
binary=$(cargo bench -p staunch-benches --bench repeat ${FEATURES:+--features "$FEATURES"} --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)

total() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-48s %12s\n' case "instr/call"
for case in $("$binary" --list); do
    case $case in *"$filter"*) ;; *) continue ;; esac
    one=$(total "$case" "$calls")
    two=$(total "$case" $((2 * calls)))
    printf '%-48s %12d\n' "$case" $(((two - one) / calls))
done
