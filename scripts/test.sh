#!/usr/bin/env bash
# `npm test`: the type check (tsc), the Jest suites and the training script's Python tests.
# The type check (~1 min, one core) and the Python tests (~1.5 min, CPU-bound) run beside Jest, whose local
# end-to-end tests spend much of their time waiting on training jobs, endpoints and polls: on a 2-core machine that
# keeps both cores busy instead of running the three one after the other. Each part's output is printed whole (the
# background parts after Jest); the exit code is non-zero when any part failed. Arguments go to Jest.
set -uo pipefail
cd "$(dirname "$0")/.."
logs="$(mktemp -d -t relearn-tests.XXXXXX)"
trap 'rm -rf "$logs"' EXIT

npx tsc --noEmit > "$logs/tsc.log" 2>&1 &
tsc_pid=$!
bash training-scripts/run-tests.sh > "$logs/python.log" 2>&1 &
python_pid=$!

status=0
NODE_OPTIONS=--openssl-legacy-provider npx jest "$@" || status=1

tsc_status=0
wait "$tsc_pid" || tsc_status=$?
echo
echo "== tsc --noEmit (type check, run beside Jest): $([ "$tsc_status" -eq 0 ] && echo passed || echo FAILED)"
cat "$logs/tsc.log"

python_status=0
wait "$python_pid" || python_status=$?
echo
echo "== training-scripts/run-tests.sh (Python tests, run beside Jest): $([ "$python_status" -eq 0 ] && echo passed || echo FAILED)"
cat "$logs/python.log"

[ "$tsc_status" -eq 0 ] && [ "$python_status" -eq 0 ] || status=1
exit "$status"
