#!/usr/bin/env bash
# bench/grpc.sh — unary gRPC calls against `loadgen serve grpc` on the other core, and what
# a call costs next to loadgen's own HTTP/2 request:
#   1. a fixed RATE (default 5,000 calls/s) for SECS: success %, p50, p99, CPU µs per call;
#   2. closed loop, 50 slots over CONNS connections (default 4), side by side REPS times:
#      gRPC calc.Calc/Compute vs loadgen's HTTP/2 (--http2, same connections and streams):
#      a GET to `serve http`; a POST of the same 9 bytes the gRPC call sends (its framed
#      message) to `serve http`, which echoes them; and the very same gRPC request made by
#      the generic HTTP/2 client (content-type: application/grpc, te: trailers) to
#      `serve grpc`: the same server and bytes on the wire, so the difference is what the
#      gRPC caller itself costs. Medians of CPU µs per call, and the ratios;
#   3. the same comparison at one fixed rate both servers take (60 % of the gRPC closed
#      loop's rate): in a closed loop the slower server (tonic's) also lowers how many calls
#      loadgen handles per wake-up, which raises its CPU per call;
#   4. past capacity: the gRPC rate at 2× and 5× what the closed loop achieved;
#   5. with h2load installed (apt-get install -y nghttp2-client): closed loop, 48 calls in
#      flight over 4 connections, loadgen's gRPC caller vs h2load posting the same framed
#      message (`h2load -c 4 -m 12 -t 1 -d frame.bin -H content-type:application/grpc`; no
#      decoding, no status check), REPS rounds interleaved: CPU µs per call, medians, ratio.
#      `--h2load-only` runs just this comparison.
#   6. `--instructions` (needs valgrind): instructions per call, user space, counted by
#      callgrind (within a fraction of a percent run after run, whatever else the machine
#      does): loadgen's gRPC caller and h2load, each at 48 in flight over 4 connections,
#      the count of a 31,000-call run less that of a 1,000-call run, over 30,000. Runs
#      only this.
# The server runs on CPU 1, the generator on CPU 0 (one thread each).
#
# Usage: bench/grpc.sh [--rate N] [--secs N] [--reps N] [--conns N] [--h2load-only] [--instructions]
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=5000 SECS=10 REPS=3 CONNS=4 ONLY_H2LOAD=0 ONLY_INSTR=0
while [ $# -gt 0 ]; do
  case "$1" in
    --instructions) ONLY_INSTR=1; shift ;;
    --h2load-only) ONLY_H2LOAD=1; shift ;;
    --rate) RATE="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "grpc.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
. bench/lib.sh
bench_init grpc.sh
start_server grpc grpc; GRPC=$ADDR
start_server http http; HTTP=$ADDR

CALL=(--call calc.Calc/Compute --message '{"operands":[12,5],"op":"ADD"}' --expect-body '12 + 5 = 17')
line() { # NAME LABEL
  printf '  %-28s %9s/s  success %6s of %-8s p50 %6s µs  p99 %7s µs  CPU %6s µs/call  dropped %s\n' "$2" \
    "$(kv "$1" rps)" "$(kv "$1" success)" "$(kv "$1" scheduled)" "$(kv "$1" p50_us)" "$(kv "$1" p99_us)" \
    "$(us_per_load "$1")" "$(kv "$1" dropped)"
}

echo "loadgen $("$BIN" --version | awk '{print $2}'): serve grpc $GRPC, serve http $HTTP (servers cpu 1, generator cpu 0)"
# {"operands":[12,5]} (op ADD is the default) framed: uncompressed, 4 bytes, 0a 02 0c 05
printf '\000\000\000\000\004\012\002\014\005' > "$WD/frame.bin"
h2load_rows() {
  if ! command -v h2load >/dev/null; then
    echo "h2load not installed: no h2load comparison (apt-get install -y nghttp2-client)"
    return
  fi
  for r in $(seq "$REPS"); do
    lg_run "lg$r" "grpc://$GRPC" "${CALL[@]}" -c 48 --connections 4 -d "${SECS}s"
    /usr/bin/time -v -o "$WD/hl$r.time" timeout -k 5 $((SECS + 30)) taskset -c 0 \
      h2load -c 4 -m 12 -t 1 -D "$SECS" -d "$WD/frame.bin" -H 'content-type: application/grpc' \
      -H 'te: trailers' "http://$GRPC/calc.Calc/Compute" >"$WD/hl$r.out" 2>&1
    local n; n=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$WD/hl$r.out")
    awk -v c="$(cpu_s "hl$r")" -v n="$n" 'BEGIN {printf "%.2f\n", n ? c * 1e6 / n : 0}' > "$WD/hl$r.per"
    printf '  %-28s %9s/s  CPU %6s µs/call\n' "closed 48, loadgen gRPC ($r)" "$(kv "lg$r" rps)" "$(us_per_load "lg$r")"
    printf '  %-28s %9s/s  CPU %6s µs/call  (%s calls)\n' "closed 48, h2load ($r)" \
      "$(sed -n 's/.*finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$WD/hl$r.out")" "$(cat "$WD/hl$r.per")" "$n"
  done
  local L H
  L=$(for r in $(seq "$REPS"); do us_per_load "lg$r"; done | median)
  H=$(for r in $(seq "$REPS"); do cat "$WD/hl$r.per"; done | median)
  awk -v l="$L" -v h="$H" 'BEGIN {printf "median CPU µs per call, 48 in flight over 4 connections: loadgen gRPC %s, h2load %s: %.2f×\n", l, h, l / h}'
}
instructions() { # NAME COMMAND... (the command takes -n CALLS appended)
  local name="$1" n; shift
  for n in 1000 31000; do
    timeout -k 5 600 valgrind --tool=callgrind --callgrind-out-file="$WD/$name.$n.cg" "$@" -n "$n" \
      >"$WD/$name.$n.out" 2>"$WD/$name.$n.err" \
      || { echo "grpc.sh: $name under callgrind failed:" >&2; tail -5 "$WD/$name.$n.err" >&2; exit 1; }
  done
  awk -v a="$(awk '/^summary:/ {print $2}' "$WD/$name.1000.cg")" \
    -v b="$(awk '/^summary:/ {print $2}' "$WD/$name.31000.cg")" 'BEGIN {printf "%.0f\n", (b - a) / 30000}'
}
instruction_rows() {
  command -v valgrind >/dev/null || { echo "grpc.sh: --instructions needs valgrind (apt-get install -y valgrind)" >&2; exit 2; }
  local L H
  L=$(instructions lg "$BIN" run "grpc://$GRPC" "${CALL[@]}" -c 48 --connections 4 --threads 1 --summary kv --quiet)
  echo "  instructions per call, loadgen gRPC (48 in flight over 4 connections): $L"
  if command -v h2load >/dev/null; then
    H=$(instructions hl h2load -c 4 -m 12 -t 1 -d "$WD/frame.bin" -H 'content-type: application/grpc' \
      -H 'te: trailers' "http://$GRPC/calc.Calc/Compute")
    echo "  instructions per call, h2load posting the same frame: $H"
    awk -v l="$L" -v h="$H" 'BEGIN {printf "  loadgen ÷ h2load: %.2f×\n", l / h}'
  fi
}
if [ "$ONLY_INSTR" = 1 ]; then instruction_rows; exit 0; fi
if [ "$ONLY_H2LOAD" = 1 ]; then h2load_rows; exit 0; fi
lg_run fixed "grpc://$GRPC" "${CALL[@]}" -r "$RATE" -d "${SECS}s"
line fixed "gRPC unary at $RATE/s"
POST=(--http2 -m POST -H 'content-type: application/grpc' -H 'te: trailers' --body "@$WD/frame.bin")
for r in $(seq "$REPS"); do
  lg_run "g$r" "grpc://$GRPC" "${CALL[@]}" -c 50 --connections "$CONNS" -d "${SECS}s"
  lg_run "h$r" "http://$HTTP/" --http2 -c 50 --connections "$CONNS" -d "${SECS}s"
  lg_run "b$r" "http://$HTTP/" --http2 -m POST --body "@$WD/frame.bin" -c 50 --connections "$CONNS" -d "${SECS}s"
  lg_run "p$r" "http://$GRPC/calc.Calc/Compute" "${POST[@]}" -c 50 --connections "$CONNS" -d "${SECS}s"
  line "g$r" "closed, gRPC (round $r)"
  line "h$r" "closed, HTTP/2 GET (round $r)"
  line "b$r" "closed, HTTP/2 POST (round $r)"
  line "p$r" "closed, h2 POST grpc (round $r)"
done
G=$(for r in $(seq "$REPS"); do us_per_load "g$r"; done | median)
H=$(for r in $(seq "$REPS"); do us_per_load "h$r"; done | median)
B=$(for r in $(seq "$REPS"); do us_per_load "b$r"; done | median)
P=$(for r in $(seq "$REPS"); do us_per_load "p$r"; done | median)
echo "median CPU µs per call, closed loop, gRPC $G:"
awk -v g="$G" -v h="$H" 'BEGIN {printf "  vs an HTTP/2 GET to serve http (%s): %.2f×\n", h, g / h}'
awk -v g="$G" -v b="$B" 'BEGIN {printf "  vs an HTTP/2 POST of the same 9 bytes to serve http (%s): %.2f×\n", b, g / b}'
awk -v g="$G" -v p="$P" 'BEGIN {printf "  vs the same gRPC request by the HTTP/2 client to serve grpc (%s): %.2f×\n", p, g / p}'
C=$(for r in $(seq "$REPS"); do kv "g$r" rps; done | median)
F=$(awk -v c="$C" 'BEGIN {printf "%d", c * 0.6}')
for r in $(seq "$REPS"); do
  lg_run "gf$r" "grpc://$GRPC" "${CALL[@]}" -r "$F" --connections "$CONNS" -d "${SECS}s"
  lg_run "hf$r" "http://$HTTP/" --http2 -r "$F" --connections "$CONNS" -d "${SECS}s"
  line "gf$r" "$F/s, gRPC (round $r)"
  line "hf$r" "$F/s, HTTP/2 (round $r)"
done
G=$(for r in $(seq "$REPS"); do us_per_load "gf$r"; done | median)
H=$(for r in $(seq "$REPS"); do us_per_load "hf$r"; done | median)
awk -v g="$G" -v h="$H" -v f="$F" 'BEGIN {printf "median CPU µs per call at %d/s: gRPC %s, HTTP/2 %s: %.2f×\n", f, g, h, g / h}'
for k in 2 5; do
  R=$(awk -v c="$C" -v k="$k" 'BEGIN {printf "%d", c * k}')
  lg_run "over$k" "grpc://$GRPC" "${CALL[@]}" -r "$R" --connections "$CONNS" -d "${SECS}s"
  line "over$k" "gRPC at ${k}× ($R/s)"
done
h2load_rows
