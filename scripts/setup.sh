#!/usr/bin/env bash
# Installs what relearn needs on a fresh Debian 12 machine: the Node packages (npm ci) and, from Debian,
# the Python that runs the training script locally (scikit-learn 1.2.1, as in SageMaker's SKLearn 1.2-1
# container). With --test it also installs what the test suite needs (pytest, and Chromium to render the report).
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js 20 or later with npm comes with the machine (Debian 12's own nodejs package is 18, too old).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "relearn setup: Node.js >= 20 with npm is required (https://nodejs.org or your distribution's NodeSource packages)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "relearn setup: Node.js >= 20 is required, but found $(node --version)" >&2
  exit 1
fi

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

# openssl: local mode serves HTTPS with a certificate it creates on first use (local/services/tls.ts).
packages=(python3-sklearn python3-pandas openssl)
[ "$want_tests" = 1 ] && packages+=(python3-pytest chromium)

# npm ci needs nothing from apt: it runs while the Debian packages install (a fresh machine spends minutes on both).
npm_log="$(mktemp -t relearn-npm-ci.XXXXXX)"
trap 'rm -f "$npm_log"' EXIT
echo "relearn setup: npm ci"
npm ci --no-audit --no-fund --loglevel=error > "$npm_log" 2>&1 &
npm_pid=$!

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "relearn setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
      echo "relearn setup: need root (or sudo) to run: apt-get install ${missing[*]}" >&2; exit 1
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! wait "$npm_pid"; then
  cat "$npm_log" >&2
  echo "relearn setup: npm ci failed" >&2
  exit 1
fi
cat "$npm_log"
# The package build (dist/: the compiled construct API and CLI, and one esbuild bundle per Lambda handler), which the
# package tests pack; the repository's own workflow runs the TypeScript sources and needs none of it.
echo "relearn setup: npm run build"
npm run build --silent >/dev/null
echo "relearn setup: done"
