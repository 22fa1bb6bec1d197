#!/usr/bin/env bash
# Runs Heddle's benchmarks and prints the median of every measurement, with each group's
# baseline beside it (criterion's own output shows means; the targets are medians).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

cargo bench -p heddle-policy --bench authorize -- --warm-up-time 1 --measurement-time 3 "$@"
cargo bench -p heddle-server --bench http_roundtrip -- --warm-up-time 2 --measurement-time 5 "$@"
cargo bench -p heddle-store --bench audit_append -- --warm-up-time 1 --measurement-time 3 "$@"
cargo bench -p heddle-audit --bench verify -- --warm-up-time 1 --measurement-time 3 "$@"

python3 - "$target/criterion" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
rows = []
for est in sorted(root.glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    median_ns = json.loads(est.read_text())["median"]["point_estimate"]
    rows.append((bench["group_id"], bench.get("function_id") or bench["title"], median_ns))
width = max((len(f"{g}/{f}") for g, f, _ in rows), default=10)
print(f"\n{'benchmark':<{width}}  median")
for group, function, ns in rows:
    value = f"{ns/1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"
    print(f"{group + '/' + function:<{width}}  {value}")
PY
