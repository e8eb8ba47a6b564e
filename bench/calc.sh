#!/usr/bin/env bash
# bench/calc.sh — loadgen against its own calc server, as two processes on loopback.
#
# Prints, with /usr/bin/time -v around the generator:
#   1. closed loop: loads per second and generator CPU µs per load;
#   2. fixed 20,000 LPS for 10 s: offered rate vs target, success %, CPU µs per load,
#      p50, p99, max RSS;
#   3. max RSS of a 10 s and a 60 s run at 20,000 LPS (memory must not grow with length).
#
# The server is pinned to CPU 1 and the generator to CPU 0 (one thread each), so the
# figures do not fight over cores. Every run is bounded by `timeout`.
#
# Usage: bench/calc.sh [--rate N] [--secs N] [--long-secs N] [--skip-long]
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=20000 SECS=10 LONG=60 SKIP_LONG=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --long-secs) LONG="$2"; shift 2 ;;
    --skip-long) SKIP_LONG=1; shift ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "calc.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x /usr/bin/time ] || { echo "calc.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

cargo build --release -q
BIN=target/release/loadgen
WD=$(mktemp -d /tmp/loadgen-bench.XXXXXX)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WD"
}
trap cleanup EXIT

taskset -c 1 "$BIN" serve calc --listen 127.0.0.1:0 --threads 1 2>"$WD/server.err" &
SERVER_PID=$!
for _ in $(seq 50); do grep -q "listening on" "$WD/server.err" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on //p' "$WD/server.err" | head -n1)
[ -n "$ADDR" ] || { echo "calc.sh: server did not start" >&2; cat "$WD/server.err" >&2; exit 1; }
TARGET="calc://$ADDR"

# run NAME ARGS... : runs the generator on CPU 0 under /usr/bin/time, leaves NAME.kv/NAME.time
run() {
  local name="$1"; shift
  /usr/bin/time -v -o "$WD/$name.time" timeout -k 5 $((LONG + 60)) \
    taskset -c 0 "$BIN" run "$TARGET" --threads 1 --summary kv "$@" >"$WD/$name.kv" 2>"$WD/$name.err" \
    || { echo "calc.sh: run $name failed:" >&2; cat "$WD/$name.err" >&2; exit 1; }
}
kv() { sed -n "s/^$2=//p" "$WD/$1.kv"; }
cpu_s() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.3f", s}' "$WD/$1.time"; }
rss_mb() { awk -F': ' '/Maximum resident/ {printf "%.1f", $2 / 1024}' "$WD/$1.time"; }

echo "loadgen $("$BIN" --version | awk '{print $2}') against $TARGET (server cpu 1, generator cpu 0, 1 thread each)"
echo

run closed -d "${SECS}s" -c 50
printf 'closed loop, 50 slots, %ss:  %s loads/s   CPU %s µs/load   p50 %s µs   p99 %s µs   errors %s   max RSS %s MB\n' \
  "$SECS" "$(kv closed rps)" "$(us_per_load closed)" "$(kv closed p50_us)" "$(kv closed p99_us)" "$(kv closed errors)" "$(rss_mb closed)"

run fixed -r "$RATE" -d "${SECS}s" -t 1s
awk -v o="$(kv fixed offered_rate)" -v r="$RATE" -v s="$(kv fixed success)" -v n="$(kv fixed scheduled)" \
  -v cpu="$(us_per_load fixed)" -v p50="$(kv fixed p50_us)" -v p99="$(kv fixed p99_us)" -v rss="$(rss_mb fixed)" \
  -v d="$(kv fixed dropped)" -v secs="$SECS" 'BEGIN {
  printf "fixed %d LPS, %ss:  offered %.1f/s (%+.3f%% of target)   success %.3f%%   dropped %d   CPU %s µs/load   p50 %s µs   p99 %s µs   max RSS %s MB\n",
    r, secs, o, (o - r) / r * 100, n ? s * 100 / n : 0, d, cpu, p50, p99, rss }'

if [ "$SKIP_LONG" = 0 ]; then
  run long -r "$RATE" -d "${LONG}s" -t 1s
  awk -v a="$(rss_mb fixed)" -v b="$(rss_mb long)" -v s="$SECS" -v l="$LONG" -v r="$RATE" 'BEGIN {
    printf "max RSS at %d LPS:  %ss run %s MB   %ss run %s MB   (%+.1f%%)\n", r, s, a, l, b, (b - a) / a * 100 }'
fi
