# bench/lib.sh — what the benchmark scripts share; sourced, not run.
#
#   bench_init NAME [BUILD]
#                       checks /usr/bin/time, builds the release binary ($BIN; with BUILD
#                       0 it does not build, and $LOADGEN, if set, is used as is), makes
#                       the work directory ($WD) and removes it (unless KEEP=1), and every
#                       server started with start_server, on exit; NAME prefixes error
#                       messages
#   start_server NAME ARGS...
#                       `loadgen serve ARGS --listen 127.0.0.1:0 --threads 1` on CPU 1 (or
#                       $SERVER_CPU); its address in $ADDR
#   kv NAME KEY         a value of run NAME's `--summary kv` output ($WD/NAME.kv)
#   cpu_s NAME          user + system seconds of run NAME ($WD/NAME.time, /usr/bin/time -v)
#   rss_mb NAME         its max RSS, MB
#   wall_s NAME         its wall-clock seconds
#   us_per_load NAME    its CPU µs per scheduled load (cpu_s over `kv NAME scheduled`)
#   median              the median of the numbers on stdin, one per line
#   lg_run NAME ARGS... `loadgen run ARGS --threads 1 --summary kv --quiet` on CPU 0, under
#                       /usr/bin/time and a timeout of 3 × $SECS + 60 s: $WD/NAME.kv,
#                       .time, .err; a failed run prints its errors and ends the script
#   lg_row NAME LABEL UNIT
#                       a table row of run NAME: rate, successes of scheduled, p50, p99,
#                       CPU µs per UNIT, dropped, max RSS, elapsed

bench_init() {
  BENCH=$1
  [ -x /usr/bin/time ] || { echo "$BENCH: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
  BIN=$PWD/target/release/loadgen
  if [ "${2:-1}" = 1 ]; then cargo build --release -q; else BIN=${LOADGEN:-$BIN}; fi
  WD=$(mktemp -d /tmp/loadgen-bench.XXXXXX)
  SERVER_PIDS=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local p
  for p in "${SERVER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ "$(type -t bench_cleanup_more)" = function ] && bench_cleanup_more
  if [ "${KEEP:-0}" = 1 ]; then echo "$BENCH: work dir $WD" >&2; else rm -rf "$WD"; fi
}

start_server() {
  local name=$1; shift
  # stdout to /dev/null: a server holding the caller's stdout would keep a $( ) waiting
  taskset -c "${SERVER_CPU:-1}" "$BIN" serve "$@" --listen 127.0.0.1:0 --threads 1 \
    >/dev/null 2>"$WD/$name.server.err" &
  SERVER_PIDS+=($!)
  local _
  for _ in $(seq 50); do grep -q "listening on" "$WD/$name.server.err" 2>/dev/null && break; sleep 0.1; done
  ADDR=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$WD/$name.server.err" | head -n1)
  [ -n "$ADDR" ] || { echo "$BENCH: the $name server did not start" >&2; cat "$WD/$name.server.err" >&2; exit 1; }
}

kv() { sed -n "s/^$2=//p" "$WD/$1.kv"; }
cpu_s() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.3f", s}' "$WD/$1.time"; }
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s}' "$WD/$1.time"; }
us_per_load() { awk -v c="$(cpu_s "$1")" -v n="$(kv "$1" scheduled)" 'BEGIN {printf "%.2f\n", n ? c * 1e6 / n : 0}'; }
rss_mb() { awk -F': ' '/Maximum resident/ {printf "%.1f", $2 / 1024}' "$WD/$1.time"; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
lg_run() {
  local name="$1"; shift
  /usr/bin/time -v -o "$WD/$name.time" timeout -k 5 $((SECS * 3 + 60)) \
    taskset -c 0 "$BIN" run "$@" --threads 1 --summary kv --quiet >"$WD/$name.kv" 2>"$WD/$name.err" \
    || { echo "$BENCH: run $name failed:" >&2; cat "$WD/$name.err" >&2; exit 1; }
}
lg_row() {
  printf '  %-26s %9s/s  success %7s of %-8s p50 %6s µs  p99 %7s µs  CPU %6s µs/%-4s  dropped %-7s RSS %s MB  elapsed %s s\n' "$2" \
    "$(kv "$1" rps)" "$(kv "$1" success)" "$(kv "$1" scheduled)" "$(kv "$1" p50_us)" "$(kv "$1" p99_us)" \
    "$(us_per_load "$1")" "$3" "$(kv "$1" dropped)" "$(rss_mb "$1")" "$(wall_s "$1")"
}
