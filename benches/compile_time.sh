#!/usr/bin/env bash
# Compile time of staunch's attributes: a generated crate of 100 annotated async functions
# against the same 100 functions plain, and the machine code each annotation adds.
#
#   benches/compile_time.sh            # 3 timed builds per crate and profile
#   RUNS=5 benches/compile_time.sh     # more runs
#
# Three crates share one workspace and target directory, so dependencies (staunch, tokio) are
# built once, before timing; each timed build recompiles only the generated crate (its
# src/lib.rs touched):
#   plain   100 `async fn`s;
#   single  the same functions, each with one attribute (retry, circuit_breaker, bulkhead,
#           timeout, fallback in turn, 20 of each);
#   stack   the same functions, each with all five (SPEC's example);
#   floor   the same functions, each body run through one do-nothing generic layer
#           (`async fn layer<F: Future>(f: F) -> F::Output { f.await }`): the least that
#           any wrapping costs to compile, the reference for the attributes' rows.
# Each crate also polls every function once (`poll_all`), as code using them would: an async
# fn's body is compiled where its future is polled, so without a caller its cost would not
# show in its own crate.
# Reported: the median wall time of `cargo build` (dev and release), its ratio to plain, and
# the `.text` bytes (release) each annotated function adds over its plain twin, read with
# `size` from the crate's rlib.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/staunch-compile-time.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat >"$work/Cargo.toml" <<EOF
[workspace]
members = ["plain", "single", "stack", "floor"]
resolver = "3"
EOF

attrs_single=(
    '#[staunch::retry(max = 3)]'
    '#[staunch::circuit_breaker(fail_max = 5, reset = "30s")]'
    '#[staunch::bulkhead(limit = 10)]'
    '#[staunch::timeout("2s")]'
    '#[staunch::fallback(cached)]'
)
attrs_stack='#[staunch::fallback(cached)]
#[staunch::retry(max = 4, backoff = "exp", jitter = "full")]
#[staunch::circuit_breaker(fail_max = 5, reset = "30s")]
#[staunch::bulkhead(limit = 10)]
#[staunch::timeout("2s")]'

generate() {
    local name=$1
    mkdir -p "$work/$name/src"
    cat >"$work/$name/Cargo.toml" <<EOF
[package]
name = "$name"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
staunch = { path = "$root" }
EOF
    {
        cat <<'EOF'
#![allow(clippy::unused_async)]

use std::future::Future as _;

#[derive(Debug)]
pub enum Error {
    NotFound(u64),
    Rejected(staunch::Rejected),
}

impl From<staunch::Rejected> for Error {
    fn from(rejected: staunch::Rejected) -> Self {
        Self::Rejected(rejected)
    }
}

pub async fn layer<F: std::future::Future>(inner: F) -> F::Output {
    inner.await
}

pub async fn cached(id: u64, label: &str, error: Error) -> Result<String, Error> {
    match error {
        Error::NotFound(_) => Err(error),
        Error::Rejected(_) => Ok(format!("{label}-{id}-cached")),
    }
}
EOF
        # Polls every function once, so that their bodies are compiled here (an async fn's
        # body is compiled where its future is polled, as in a service using its functions).
        echo
        echo 'pub fn poll_all() -> usize {'
        echo '    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());'
        echo '    let mut ready = 0;'
        for i in $(seq 1 100); do
            echo "    ready += usize::from(std::pin::pin!(fetch_$i($i, \"label\")).poll(&mut cx).is_ready());"
        done
        echo '    ready'
        echo '}'
        for i in $(seq 1 100); do
            echo
            case $name in
                single) echo "${attrs_single[$(((i - 1) % 5))]}" ;;
                stack) echo "$attrs_stack" ;;
            esac
            body="    if id == 0 {
        return Err(Error::NotFound(id));
    }
    let mut out = String::with_capacity(label.len() + 20);
    out.push_str(label);
    out.push('-');
    out.push_str(&(id.wrapping_mul($i)).to_string());
    Ok(out)"
            echo "pub async fn fetch_$i(id: u64, label: &str) -> Result<String, Error> {"
            if [ "$name" = floor ]; then
                echo "    layer(async move {"
                echo "$body" | sed 's/^/    /'
                echo "    })"
                echo "    .await"
            else
                echo "$body"
            fi
            echo "}"
        done
    } >"$work/$name/src/lib.rs"
}

for name in plain single stack floor; do
    generate "$name"
done

cd "$work"
# A full rebuild of the generated crate each time: incremental compilation would reuse the
# previous build of an unchanged file.
export CARGO_INCREMENTAL=0
echo "building dependencies once (dev and release)..." >&2
cargo build --quiet --workspace
cargo build --quiet --workspace --release

# Median wall time, in seconds, of rebuilding crate $1 with profile flags $2.
median_build() {
    local name=$1 flags=$2 times=()
    for _ in $(seq 1 "$runs"); do
        touch "$name/src/lib.rs"
        local start end
        start=$(date +%s.%N)
        # shellcheck disable=SC2086 # $flags is empty or one flag
        cargo build --quiet -p "$name" $flags
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

text_bytes() {
    size -t "target/release/lib$1.rlib" 2>/dev/null | awk '/\(TOTALS\)/ {print $1}'
}

echo
echo "rustc: $(rustc --version)"
echo "runs per measurement: $runs (median)"
echo
printf '%-8s %-8s %10s %8s\n' crate profile seconds ratio
for profile in dev release; do
    flags=""
    [ "$profile" = release ] && flags="--release"
    base=$(median_build plain "$flags")
    printf '%-8s %-8s %10.2f %8s\n' plain "$profile" "$base" "1.00x"
    for name in floor single stack; do
        t=$(median_build "$name" "$flags")
        printf '%-8s %-8s %10.2f %7.2fx\n' "$name" "$profile" "$t" "$(echo "$t / $base" | bc -l)"
    done
done

echo
plain_text=$(text_bytes plain)
printf '%-8s %12s %22s\n' crate ".text bytes" "added per function"
printf '%-8s %12d %22s\n' plain "$plain_text" "-"
for name in floor single stack; do
    t=$(text_bytes "$name")
    printf '%-8s %12d %22d\n' "$name" "$t" "$(((t - plain_text) / 100))"
done
