#!/usr/bin/env bash
# Runs every uvu test (test/**/*.test.ts) and prints the plain summary line "N passed, N failed, N skipped".
# Exits non-zero when a test fails, a test file fails to load, or no test ran at all; under CI (CI=true) also when
# any test was skipped (a skipped test names its missing precondition: "  skip: <test> — <reason>").
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# uvu prints no "Failed" line: failed = Total - Passed (Total excludes skipped).
timeout --kill-after=30s 45m node --import tsx test/runner.mjs 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "the test run took longer than 45 min and was stopped" >&2; fi
total=$(awk '/^  Total:/{print $2}' "$out" | tail -n1)
passed=$(awk '/^  Passed:/{print $2}' "$out" | tail -n1)
skipped=$(awk '/^  Skipped:/{print $2}' "$out" | tail -n1)
total=${total:-0}; passed=${passed:-0}; skipped=${skipped:-0}
failed=$((total - passed))
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$total" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "the test runner exited with $rc (a test file failed to load?)" >&2
fi
if [ "$skipped" -gt 0 ]; then
  echo "skipped tests and why:" >&2
  grep '^  skip: ' "$out" >&2 || true
  if [ "${CI:-}" = "true" ]; then
    echo "CI: every test must run, ${skipped} skipped" >&2
    [ "$rc" -eq 0 ] && rc=1
  fi
fi
exit "$rc"
