#!/usr/bin/env bash
# BENCHMARKS.md's table from the last `cargo bench -p staunch-benches --bench layers` run:
# criterion's median of each case, the time it adds over the group's direct call, how many
# times longer each peer takes than staunch, and the heap allocations per call (counted now by
# the `allocations` bench).
set -euo pipefail
cd "$(dirname "$0")/.."

target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
executable() {
    cargo bench -p staunch-benches --bench "$1" --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1
}
binary=$(executable repeat)
allocations=$("$(executable allocations)")

# Allocations per call of group $1, case $2.
allocs() {
    echo "$allocations" | awk -v g="$1" -v c="$2" '$1 == g && $2 == c {print $3}'
}

# The median of a benchmark, in ns (criterion stores it in ns for wall time).
median() {
    sed -n 's/.*"median":{"confidence_interval":{[^}]*},"point_estimate":\([^,]*\),.*/\1/p' \
        "$target/criterion/$1/new/estimates.json"
}

echo "| group | case | median ns/call | added ns | peer ÷ staunch | allocs/call |"
echo "|---|---|---:|---:|---:|---:|"
floor=0
staunch=0
for id in $("$binary" --list); do
    group=${id%/*}
    name=${id#*/}
    ns=$(median "$id")
    case $name in
        direct)
            floor=$ns
            staunch=0
            printf '| %s | %s | %.1f | | | %s |\n' "$group" "$name" "$ns" "$(allocs "$group" "$name")"
            ;;
        staunch)
            staunch=$ns
            printf '| | **%s** | **%.1f** | **%.1f** | | **%s** |\n' "$name" "$ns" \
                "$(echo "$ns - $floor" | bc -l)" "$(allocs "$group" "$name")"
            ;;
        *)
            # A group without a staunch row (the layer floor) has no ratio.
            ratio=
            [ "$staunch" != 0 ] && ratio=$(printf '%.1f×' "$(echo "$ns / $staunch" | bc -l)")
            printf '| | %s | %.1f | %.1f | %s | %s |\n' "$name" "$ns" "$(echo "$ns - $floor" | bc -l)" \
                "$ratio" "$(allocs "$group" "$name")"
            ;;
    esac
done

echo
echo "| two tasks, one shared CLOSED breaker | ns per round (one call on each task) | aggregate calls/s |"
echo "|---|---:|---:|"
for name in staunch recloser failsafe; do
    ns=$(median "shared_breaker_two_threads/$name")
    printf '| %s | %.1f | %.0f M |\n' "$name" "$ns" "$(echo "2000 / $ns" | bc -l)"
done
