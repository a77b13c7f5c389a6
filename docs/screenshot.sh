#!/usr/bin/env bash
# Makes docs/jaeger-failed-fan-out.png, the README's picture: the aggregator
# exports its traces to a Jaeger UI, and headless Chromium photographs the
# first failed request whose failure cancelled siblings.
#
#   docs/screenshot.sh                  # builds and starts tools/jaeger-ui (in memory)
#   JAEGER=http://localhost:16686 OTLP=http://localhost:4317 docs/screenshot.sh
#                                       # a real Jaeger (docker run ... jaegertracing/jaeger)
#
# Needs: chromium (Debian's `chromium` package), python3, and, for the
# built-in UI, protoc (Debian's `protobuf-compiler`) to build it.
set -euo pipefail
cd "$(dirname "$0")/.."

JAEGER="${JAEGER:-}"
OTLP="${OTLP:-}"
OUT="${OUT:-docs/jaeger-failed-fan-out.png}"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; }
trap cleanup EXIT

if [ -z "$JAEGER" ]; then
    cargo build --release --quiet --manifest-path tools/jaeger-ui/Cargo.toml
    tools/jaeger-ui/target/release/jaeger-ui 127.0.0.1:16686 127.0.0.1:4317 &
    server=$!
    JAEGER=http://127.0.0.1:16686
    OTLP=http://127.0.0.1:4317
    for _ in $(seq 50); do
        curl -fs "$JAEGER/api/services" >/dev/null 2>&1 && break
        sleep 0.1
    done
fi

# Jaeger takes traces only: export them alone.
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="$OTLP" OTEL_SERVICE_NAME=aggregator \
    cargo run --quiet -p cohort-examples --bin aggregator -- 12 7 >/dev/null

# The failed request whose failure came earliest, cutting the most siblings
# short (collateral), and its failing child, highlighted.
read -r trace failing < <(curl -fs "$JAEGER/api/traces?service=aggregator&limit=100" | python3 -c '
import json, sys
traces = json.load(sys.stdin)["data"]
def tags(span):
    return {t["key"]: t["value"] for t in span.get("tags", [])}
best = None
for trace in traces:
    spans = trace["spans"]
    start = min(s["startTime"] for s in spans)
    failing = [s for s in spans if tags(s).get("child.outcome") == "error"
               and not tags(s).get("error.type", "").startswith("cohort::")]
    collateral = [s for s in spans if tags(s).get("cancel.cause") == "collateral"]
    if not failing or not collateral:
        continue
    first = min(failing, key=lambda s: s["startTime"] + s["duration"])
    when = first["startTime"] + first["duration"] - start
    key = (when, -len(collateral), trace["traceID"])
    if best is None or key < best[0]:
        best = (key, trace["traceID"], first["spanID"])
if best is None:
    sys.exit("no failed request with collateral among %d traces" % len(traces))
print(best[1], best[2])
')
echo "trace $trace, failing span $failing"

profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1600,1000 \
    --virtual-time-budget=8000 --screenshot="$OUT" "$JAEGER/trace/$trace?uiFind=$failing" 2>/dev/null
rm -rf "$profile"
echo "wrote $OUT"
