#!/usr/bin/env bash
# Join the DGX Spark to the workstation's Ray cluster as the node that carries the 70B model.
#
#   HEAD_ADDRESS=192.0.2.10:6379 cluster/join-spark.sh
#
# Needs the head's token: copy ~/.ray/auth_token from the head to this machine first (or set
# RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH). The DGX Spark is aarch64 (Grace CPU + Blackwell GPU):
# vLLM's aarch64 CUDA wheel is installed from PyPI with the project's `gpu` extra.
set -euo pipefail

: "${HEAD_ADDRESS:?set HEAD_ADDRESS=<head ip>:6379}"
SPARK_IP="${SPARK_IP:-$(hostname -I | awk '{print $1}')}"
export RAY_AUTH_MODE=token

if [ ! -s "${HOME}/.ray/auth_token" ] && [ -z "${RAY_AUTH_TOKEN:-}" ] && [ -z "${RAY_AUTH_TOKEN_PATH:-}" ]; then
  echo "no cluster token: copy the head's ~/.ray/auth_token here first" >&2
  exit 1
fi

if [ "$(uname -m)" != "aarch64" ]; then
  echo "warning: expected an aarch64 DGX Spark, found $(uname -m)" >&2
fi

# Same Python and the same Ray version as the head: Ray refuses mixed versions.
if [ "${INSTALL:-1}" = "1" ]; then
  python3 -m pip install --upgrade "tiered-router[gpu] @ file://$(cd "$(dirname "$0")/.." && pwd)"
fi

# dgx_spark: 1 is what the 70B deployment asks for, so it can only be placed here.
ray start \
  --address="${HEAD_ADDRESS}" \
  --node-ip-address="${SPARK_IP}" \
  --num-gpus=1 \
  --resources='{"dgx_spark": 1}'

echo "joined ${HEAD_ADDRESS}; check with: ray status   (expect resources dgx_spark: 1)"
