#!/usr/bin/env bash
# Runs the training script's Python tests with an interpreter that has scikit-learn
# (RELEARN_PYTHON, default Debian's /usr/bin/python3). Exits non-zero when a test fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${RELEARN_PYTHON:-/usr/bin/python3}"
if ! "$python" -c 'import sklearn, pandas, joblib, pytest' 2>/dev/null; then
  echo "run-tests.sh: $python cannot import sklearn, pandas, joblib and pytest." >&2
  echo "  Set RELEARN_PYTHON to an interpreter that has them (Debian: apt-get install python3-sklearn python3-pandas python3-pytest)." >&2
  exit 2
fi
cd "$here"
[ $# -eq 0 ] && set -- tests
exec "$python" -m pytest -q -p no:cacheprovider "$@"
