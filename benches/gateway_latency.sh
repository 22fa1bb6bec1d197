#!/usr/bin/env bash
# Added latency of the OpenAI-compatible endpoint against a direct call to a fake upstream on
# loopback, p50 and p99, at several request rates in one run (release build).
#   GATEWAY_BENCH_RATES=10,50,200 GATEWAY_BENCH_SECONDS=5 benches/gateway_latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p heddle-server --bench gateway_latency "$@"
