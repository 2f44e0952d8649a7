#!/usr/bin/env bash
# scripts/test.sh: build and run every Halqa test. Exits non-zero on any failure.
#
#   1. installs missing Debian packages (scripts/deps.sh);
#   2. builds the normal configuration (build/, warnings are errors) and runs ctest;
#   3. builds the ASan+UBSan configuration (build-asan/) and runs ctest;
#   4. builds the libFuzzer targets with clang (build-fuzz/) and runs each,
#      as many at a time as there are jobs, for a short smoke time on a copy
#      of its seed corpus.
#
# Environment: HALQA_FUZZ_SECONDS (default 20) per fuzz target; JOBS
# (default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh

jobs=${JOBS:-$(nproc)}
fuzz_seconds=${HALQA_FUZZ_SECONDS:-20}

run_ctest() {
  local dir=$1
  echo "== ctest ($dir)"
  (cd "$dir" && ctest --no-tests=error --output-on-failure -j "$jobs")
}

echo "== build (normal)"
cmake -S . -B build -DHALQA_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
run_ctest build

echo "== build (ASan+UBSan)"
cmake -S . -B build-asan -DHALQA_WERROR=ON -DHALQA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan

echo "== fuzz smoke (${fuzz_seconds}s per target, $jobs at a time)"
CC=clang cmake -S . -B build-fuzz -DHALQA_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_targets

# fuzz_one runs target $1 on a copy of its seed corpus and writes what it
# found to $results/NAME.txt (and NAME.failed on a failure), so parallel runs
# do not interleave their output.
fuzz_one() {
  local target=$1 short work
  short=$(basename "$target")
  short=${short#fuzz_}
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$short/." "$work/" 2>/dev/null || true
  if "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=0 "$work" >"$work.log" 2>&1; then
    echo "fuzz $short: ok ($(grep -o 'DONE.*' "$work.log" | tail -1 || true))" >"$results/$short.txt"
  else
    { echo "fuzz $short: FAILED"; tail -40 "$work.log"; } >"$results/$short.txt"
    touch "$results/$short.failed"
  fi
  rm -rf "$work" "$work.log"
}
results=$(mktemp -d)
export -f fuzz_one
export fuzz_seconds results
find build-fuzz/bin -maxdepth 1 -name 'fuzz_*' -type f -perm -u+x -print0 | sort -z |
  xargs -0 -r -P "$jobs" -I{} bash -c 'fuzz_one "$1"' _ {}
cat "$results"/*.txt
fuzz_failed=0
if compgen -G "$results/*.failed" >/dev/null; then
  fuzz_failed=1
fi
rm -rf "$results"

if [ "$fuzz_failed" -ne 0 ]; then
  echo "test.sh: a fuzz target failed" >&2
  exit 1
fi
echo "test.sh: all tests passed"
