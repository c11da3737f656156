#!/usr/bin/env bash
# What the test suite needs beyond pip, so that no test skips for want of it:
#   - Debian's PostgreSQL server binaries: the storage tests run on a real PostgreSQL as well as SQLite;
#   - vLLM 0.33.0's wheel, downloaded (never installed: it is CUDA-only) so the fake vLLM is checked
#     against vLLM's own source;
#   - Debian's chromium: the dashboard test loads the page in a real headless browser.
# Run from the repository root after the venv is set up (the README's set-up command does).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  if [ "$(id -u)" -eq 0 ]; then as_root=(); elif command -v sudo > /dev/null; then as_root=(sudo); else
    echo "setup-test-deps: PostgreSQL is missing and this user cannot install it: apt-get install postgresql" >&2
    exit 1
  fi
  echo "setup-test-deps: installing Debian's postgresql"
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq postgresql > /dev/null
fi

if ! command -v chromium > /dev/null; then
  if [ "$(id -u)" -eq 0 ]; then as_root=(); elif command -v sudo > /dev/null; then as_root=(sudo); else
    echo "setup-test-deps: chromium is missing and this user cannot install it: apt-get install chromium" >&2
    exit 1
  fi
  echo "setup-test-deps: installing Debian's chromium"
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium > /dev/null
fi

wheels="${TIERED_ROUTER_WHEELS:-$HOME/.cache/tiered-router/wheels}"
if ! compgen -G "$wheels/vllm-0.33.0-*.whl" > /dev/null; then
  echo "setup-test-deps: downloading vLLM 0.33.0's wheel into $wheels (read by the tests, not installed)"
  mkdir -p "$wheels"
  .venv/bin/pip download --quiet --no-deps vllm==0.33.0 -d "$wheels"
fi
