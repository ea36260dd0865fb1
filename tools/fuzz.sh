#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 1,000,000) or MAX_SECONDS each,
# growing fuzz/corpus/<target>; stopping and rerunning resumes from the saved corpus.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1000000}
MAX_SECONDS=${MAX_SECONDS:-1800}
for target in ${TARGETS:-npy npz nifti manifest bundle_zip}; do
  mkdir -p fuzz/corpus/$target fuzz/logs
  cargo +nightly fuzz run -O --debug-assertions "$target" "fuzz/corpus/$target" -- \
    -runs="$RUNS" -max_total_time="$MAX_SECONDS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    2>&1 | tee "fuzz/logs/$target.log" | grep -E "^#[0-9]+ +(DONE|pulse)|SUMMARY|panicked|ERROR" || true
done
