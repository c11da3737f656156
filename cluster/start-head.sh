#!/usr/bin/env bash
# Start the Ray head on the workstation (one GPU) and deploy the router on it.
#
#   cluster/start-head.sh                 # generates ~/.ray/auth_token on first run
#   HEAD_IP=192.0.2.10 cluster/start-head.sh
#
# Token authentication: every node of the cluster must present the same token. This script
# creates it once (ray get-auth-token --generate) and prints where it is; copy that file to the
# DGX Spark before running join-spark.sh there.
set -euo pipefail

HEAD_IP="${HEAD_IP:-$(hostname -I | awk '{print $1}')}"
RAY_PORT="${RAY_PORT:-6379}"
ROUTER_PORT="${ROUTER_PORT:-8000}"
export RAY_AUTH_MODE=token

if [ ! -s "${HOME}/.ray/auth_token" ] && [ -z "${RAY_AUTH_TOKEN:-}" ]; then
  ray get-auth-token --generate >/dev/null
fi
echo "cluster token: ${RAY_AUTH_TOKEN_PATH:-${HOME}/.ray/auth_token} (copy it to every node that joins)"

# The workstation GPU holds the micro and light replicas; `workstation` lets a deployment pin to it.
ray start --head \
  --node-ip-address="${HEAD_IP}" \
  --port="${RAY_PORT}" \
  --dashboard-host=127.0.0.1 \
  --num-gpus=1 \
  --resources='{"workstation": 1}'

echo "head is up at ${HEAD_IP}:${RAY_PORT}; join the DGX Spark with:"
echo "  HEAD_ADDRESS=${HEAD_IP}:${RAY_PORT} cluster/join-spark.sh"

# Deploy once the Spark has joined (or now: the 70B deployment waits for a dgx_spark node).
if [ "${DEPLOY:-1}" = "1" ]; then
  exec tiered-router serve --address auto --config "$(dirname "$0")/../serve_config.yaml" --port "${ROUTER_PORT}"
fi
