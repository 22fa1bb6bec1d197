#!/usr/bin/env bash
# Runs Heddle's benchmarks and prints the median of every measurement, with each group's
# baseline beside it (criterion's own output shows means; the targets are medians).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
started=$(date +%s)

cargo bench -p heddle-policy --bench authorize -- --warm-up-time 1 --measurement-time 3 "$@"
cargo bench -p heddle-server --bench http_roundtrip -- --warm-up-time 2 --measurement-time 5 "$@"
cargo bench -p heddle-store --bench audit_append -- --warm-up-time 1 --measurement-time 3 "$@"
cargo bench -p heddle-audit --bench verify -- --warm-up-time 1 --measurement-time 3 "$@"
cargo bench -p heddle-store --bench records_query -- --warm-up-time 1 --measurement-time 3 "$@"
cargo bench -p heddle-runtime --bench turn_overhead -- --warm-up-time 1 --measurement-time 3 "$@"
cargo bench -p heddle-trust --bench inbound_pipeline -- --warm-up-time 1 --measurement-time 3 "$@"
cargo bench -p heddle-trust --bench masking -- --warm-up-time 1 --measurement-time 3 "$@"

python3 - "$target/criterion" "$started" <<'PY'
import json, pathlib, sys
root, started = pathlib.Path(sys.argv[1]), float(sys.argv[2])
rows = []
for est in sorted(root.glob("**/new/estimates.json")):
    if est.stat().st_mtime < started:
        continue  # left over from an earlier run
    bench = json.loads((est.parent / "benchmark.json").read_text())
    median_ns = json.loads(est.read_text())["median"]["point_estimate"]
    rows.append((bench["full_id"], median_ns))
width = max((len(name) for name, _ in rows), default=10)
print(f"\n{'benchmark':<{width}}  median")
for name, ns in rows:
    value = f"{ns/1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"
    print(f"{name:<{width}}  {value}")
PY
