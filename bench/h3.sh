#!/usr/bin/env bash
# bench/h3.sh — HTTP/3 (--http3) against `loadgen serve http --http3` on the other core, and
# what a request costs next to loadgen's own HTTP/2 over TLS to the same server:
#   1. a fixed RATE (default 5,000 requests/s) for SECS: success %, p50, p99, CPU µs per
#      request;
#   2. closed loop, 50 in flight over CONNS connections (default 4), REPS rounds interleaved:
#      HTTP/3 vs HTTP/2 over TLS (both with the same certificate and streams): CPU µs per
#      request, medians, and the ratio;
#   3. past capacity: the HTTP/3 rate at 2× and 5× what the closed loop achieved —
#      delivered, dropped, max RSS, elapsed;
#   4. with an oha built with HTTP/3 (`oha --http3`), its closed loop as a peer row.
# The server runs on CPU 1, the generator on CPU 0 (one thread each).
#
# Usage: bench/h3.sh [--rate N] [--secs N] [--reps N] [--conns N] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=5000 SECS=10 REPS=3 CONNS=4 BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "h3.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
. bench/lib.sh
bench_init h3.sh "$BUILD"
command -v openssl >/dev/null || { echo "h3.sh: needs openssl for the server certificate" >&2; exit 2; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WD/key.pem" -out "$WD/cert.pem" 2>/dev/null
start_server http http --http3 --tls-cert "$WD/cert.pem" --tls-key "$WD/key.pem"; H=$ADDR

# NAME ARGS...: a run against the server, trusting its certificate
run() { lg_run "$1" "https://$H/" --cacert "$WD/cert.pem" "${@:2}"; }

echo "loadgen $("$BIN" --version | awk '{print $2}'): serve http --http3 $H (TLS both, server cpu 1, generator cpu 0)"
echo "1. fixed rate"
run fixed --http3 -r "$RATE" -d "${SECS}s"
lg_row fixed "HTTP/3 at $RATE/s" req
awk -v s="$(kv fixed success)" -v n="$(kv fixed scheduled)" 'BEGIN {printf "  success %.3f %%\n", n ? 100 * s / n : 0}'

echo "2. closed loop, 50 in flight over $CONNS connections"
for r in $(seq "$REPS"); do
  run "h3$r" --http3 -c 50 --connections "$CONNS" -d "${SECS}s"
  run "h2$r" --http2 -c 50 --connections "$CONNS" -d "${SECS}s"
  lg_row "h3$r" "HTTP/3 ($r)" req
  lg_row "h2$r" "HTTP/2 over TLS ($r)" req
done
A=$(for r in $(seq "$REPS"); do us_per_load "h3$r"; done | median)
B=$(for r in $(seq "$REPS"); do us_per_load "h2$r"; done | median)
awk -v a="$A" -v b="$B" 'BEGIN {printf "  median CPU µs per request: HTTP/3 %s, HTTP/2 %s: %.2f×\n", a, b, a / b}'

echo "3. past capacity"
CLOSED=$(for r in $(seq "$REPS"); do kv "h3$r" rps; done | median)
for k in 2 5; do
  R=$(awk -v c="$CLOSED" -v k="$k" 'BEGIN {printf "%d", c * k}')
  run "over$k" --http3 -r "$R" -d "${SECS}s" --connections "$CONNS"
  lg_row "over$k" "HTTP/3 at ${k}× ($R/s)" req
done

echo "4. oha --http3"
if command -v oha >/dev/null && oha --help 2>/dev/null | grep -q -- --http3; then
  /usr/bin/time -v -o "$WD/oha.time" taskset -c 0 oha --no-tui --http3 --insecure -c 50 -z "${SECS}s" "https://$H/" >"$WD/oha.out" 2>&1
  N=$(sed -n 's/.*\[200\] \([0-9]*\) responses.*/\1/p' "$WD/oha.out")
  awk -v n="$N" -v s="$SECS" -v c="$(cpu_s oha)" 'BEGIN {printf "  %-26s %9.1f/s  CPU %6.2f µs/req\n", "oha --http3", n / s, n ? c * 1e6 / n : 0}'
else
  echo "  no oha built with HTTP/3 here: no oha row"
fi
