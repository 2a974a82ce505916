#!/usr/bin/env bash
# The suite's stability check: run the process-level suites (tests/cluster and
# tests/integration) RUNS times in a row, every second run beside a CPU burner that keeps
# one core busy, and stop at the first failure. A flaky test is a bug: this is how we
# show there are none left, not a way to retry them.
#
#   make soak-tests              # 10 runs
#   RUNS=4 make soak-tests       # fewer
#
# Each run's output goes to $OUT/run-N.log (default: a fresh temporary directory), and one
# progress line per run to stderr; the last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
OUT=${OUT:-$(mktemp -d -t dome-stress-XXXXXX)}
PYTEST=${PYTEST:-.venv/bin/python -m pytest}
mkdir -p "$OUT"
passed=0
failed=0
burner=""
stop_burner() { [ -n "$burner" ] && kill "$burner" 2>/dev/null; wait "$burner" 2>/dev/null; burner=""; }
trap stop_burner EXIT
for i in $(seq 1 "$RUNS"); do
  load="idle"
  if [ $((i % 2)) -eq 0 ]; then
    # One busy core of two: the timing margin every deadline in the suite must survive.
    python3 -c "while True: pass" &
    burner=$!
    load="one core burnt"
  fi
  started=$(date +%s)
  if $PYTEST -q -p no:cacheprovider tests/cluster tests/integration >"$OUT/run-$i.log" 2>&1; then
    passed=$((passed + 1)); verdict="green"
  else
    failed=$((failed + 1)); verdict="RED"
  fi
  stop_burner
  echo "stress run $i/$RUNS ($load): $verdict in $(( $(date +%s) - started )) s; $(tail -n 1 "$OUT/run-$i.log")" >&2
  if [ "$verdict" = "RED" ]; then
    echo "first failure: $OUT/run-$i.log" >&2
    break
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
