#!/usr/bin/env bash
# bench/ws.sh — WebSocket round trips (--ws-mode rtt) against `loadgen serve ws` on the other
# core, and what a message costs next to loadgen's own HTTP/1.1 request:
#   1. a fixed RATE (default 20,000 messages/s) for SECS: success %, p50, p99, CPU µs per
#      message;
#   2. closed loop, CONNS slots over CONNS connections (default 50), REPS rounds interleaved:
#      ws rtt to `serve ws` vs an HTTP/1.1 GET to `serve http` (the same connections):
#      CPU µs per load, medians, and the ratio;
#   3. past capacity: the ws rate at 2× and 5× what the closed loop achieved — delivered,
#      dropped, max RSS, elapsed;
#   4. with Python's websockets installed (pip install websockets): its asyncio client as a
#      peer row, CONNS connections each sending and awaiting one message at a time, closed
#      loop, on the same core: messages/s and CPU µs per message.
# The servers run on CPU 1, the generator on CPU 0 (one thread each).
#
# Usage: bench/ws.sh [--rate N] [--secs N] [--reps N] [--conns N] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=20000 SECS=10 REPS=3 CONNS=50 BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "ws.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
. bench/lib.sh
bench_init ws.sh "$BUILD"
start_server ws ws; WS=$ADDR
start_server http http; HTTP=$ADDR

echo "loadgen $("$BIN" --version | awk '{print $2}'): serve ws $WS, serve http $HTTP (servers cpu 1, generator cpu 0)"
echo "1. fixed rate, rtt"
lg_run fixed "ws://$WS/" -r "$RATE" -d "${SECS}s"
lg_row fixed "ws rtt at $RATE/s" load
awk -v s="$(kv fixed success)" -v n="$(kv fixed scheduled)" 'BEGIN {printf "  success %.3f %%\n", n ? 100 * s / n : 0}'

echo "2. closed loop, $CONNS slots over $CONNS connections"
for r in $(seq "$REPS"); do
  lg_run "ws$r" "ws://$WS/" -c "$CONNS" -d "${SECS}s"
  lg_run "h1$r" "http://$HTTP/" -c "$CONNS" -d "${SECS}s"
  lg_row "ws$r" "ws rtt ($r)" load
  lg_row "h1$r" "HTTP/1.1 GET ($r)" load
done
W=$(for r in $(seq "$REPS"); do us_per_load "ws$r"; done | median)
H=$(for r in $(seq "$REPS"); do us_per_load "h1$r"; done | median)
awk -v w="$W" -v h="$H" 'BEGIN {printf "  median CPU µs per load: ws rtt %s, HTTP/1.1 %s: %.2f×\n", w, h, w / h}'

echo "3. past capacity"
CLOSED=$(for r in $(seq "$REPS"); do kv "ws$r" rps; done | median)
for k in 2 5; do
  R=$(awk -v c="$CLOSED" -v k="$k" 'BEGIN {printf "%d", c * k}')
  lg_run "over$k" "ws://$WS/" -r "$R" -d "${SECS}s"
  lg_row "over$k" "ws rtt at ${k}× ($R/s)" load
done

echo "4. Python websockets client"
if python3 -c "import websockets.asyncio.client" 2>/dev/null; then
  cat > "$WD/client.py" <<'PY'
import asyncio, sys, time
from websockets.asyncio.client import connect
url, conns, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
async def one(end, n):
    async with connect(url) as ws:
        while time.monotonic() < end:
            await ws.send("ping"); await ws.recv(); n[0] += 1
async def main():
    n = [0]; end = time.monotonic() + secs
    await asyncio.gather(*(one(end, n) for _ in range(conns)))
    print(n[0])
asyncio.run(main())
PY
  /usr/bin/time -v -o "$WD/py.time" taskset -c 0 python3 "$WD/client.py" "ws://$WS/" "$CONNS" "$SECS" >"$WD/py.out"
  N=$(cat "$WD/py.out")
  awk -v n="$N" -v s="$SECS" -v c="$(cpu_s py)" 'BEGIN {printf "  %-26s %9.1f/s  CPU %6.2f µs/message\n", "python websockets", n / s, n ? c * 1e6 / n : 0}'
else
  echo "  not installed (pip install websockets): no Python row"
fi
