#!/usr/bin/env bash
# Runs the given `make` targets in order and ends with a table of how long each took, also
# when one fails (the table then says which). `make test` runs through it.
set -uo pipefail
cd "$(dirname "$0")/.."
names=()
seconds=()
results=()
status=0
started=$(date +%s)
for target in "$@"; do
  begin=$(date +%s)
  make --no-print-directory "$target"
  rc=$?
  names+=("$target")
  seconds+=($(($(date +%s) - begin)))
  if [ "$rc" -ne 0 ]; then
    results+=("failed ($rc)")
    status=$rc
    break
  fi
  results+=("ok")
done
total=$(($(date +%s) - started))
clock() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }
printf '\n%-14s %-12s %s\n' stage time result
for i in "${!names[@]}"; do
  printf '%-14s %-12s %s\n' "${names[$i]}" "$(clock "${seconds[$i]}")" "${results[$i]}"
done
printf '%-14s %-12s %s\n' total "$(clock "$total")" "$([ $status -eq 0 ] && echo ok || echo failed)"
exit $status
