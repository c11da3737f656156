#!/usr/bin/env bash
# What the test suite needs beyond pip, so that no test skips for want of it:
#   - Debian's PostgreSQL server binaries: the storage tests run on a real PostgreSQL as well as SQLite;
#   - vLLM 0.33.0's wheel, downloaded (never installed: it is CUDA-only) so the fake vLLM is checked
#     against vLLM's own source;
#   - Debian's chromium: the dashboard test loads the page in a real headless browser.
# Run from the repository root after the venv is set up (the README's set-up command does).
set -euo pipefail
cd "$(dirname "$0")/.."

install_debian() {  # install_debian PACKAGE WHY: with apt-get, as root or through sudo
  if [ "$(id -u)" -eq 0 ]; then as_root=(); elif command -v sudo > /dev/null; then as_root=(sudo); else
    echo "setup-test-deps: $1 is missing and this user cannot install it: apt-get install $1" >&2
    exit 1
  fi
  echo "setup-test-deps: installing Debian's $1 ($2)"
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "$1" > /dev/null
}

compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || install_debian postgresql "the storage tests"
command -v chromium > /dev/null || install_debian chromium "the dashboard's browser test"

wheels="${TIERED_ROUTER_WHEELS:-$HOME/.cache/tiered-router/wheels}"
if ! compgen -G "$wheels/vllm-0.33.0-*.whl" > /dev/null; then
  echo "setup-test-deps: downloading vLLM 0.33.0's wheel into $wheels (read by the tests, not installed)"
  mkdir -p "$wheels"
  .venv/bin/pip download --quiet --no-deps vllm==0.33.0 -d "$wheels"
fi
