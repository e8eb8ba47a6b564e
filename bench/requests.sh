#!/usr/bin/env bash
# bench/requests.sh — what requests from a targets file and templates cost, against
# `loadgen serve http` on loopback.
#
# Side by side, closed loop at full speed (50 slots, one generator thread), REPS times each,
# medians of the generator's CPU µs per request (user + sys from /usr/bin/time -v):
#   fixed     one command-line target, a fixed 40-byte POST body;
#   file      a 100,000-request targets file (distinct URLs /items/N, 99 report rows and
#             'other'), POST with a templated body file {"id":"{{uuid}}","n":{{index}},…};
#   stream    the same requests from a 200,000-request file (over the 100,000 held in
#             memory, so it streams from the reader thread).
# Then the memory of a streamed file: max RSS of a 5 s run at 20,000 LPS over a 1 M- and a
# 10 M-line file (made once in $WORK, default /tmp/loadgen-requests-bench, ~400 MB), and the
# time the check of every line takes before the first load.
#
# The server runs on CPU 1, the generator on CPU 0. Every run is bounded by `timeout`.
#
# Usage: bench/requests.sh [--secs N] [--reps N] [--skip-memory]
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=5 REPS=3 SKIP_MEM=0
while [ $# -gt 0 ]; do
  case "$1" in
    --secs) SECS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --skip-memory) SKIP_MEM=1; shift ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "requests.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
. bench/lib.sh
bench_init requests.sh
WORK=${WORK:-/tmp/loadgen-requests-bench}
mkdir -p "$WORK"
start_server http http

# targets files: N requests, a templated body file
printf '{"id":"{{uuid}}","n":{{index}},"r":{{randomInt 1 1000}}}' > "$WD/body.json"
make_file() { # N FILE
  awk -v n="$1" -v a="$ADDR" -v b="$WD/body.json" 'BEGIN {
    for (i = 0; i < n; i++) printf "POST http://%s/items/%d\nContent-Type: application/json\n@%s\n\n", a, i, b }' > "$2"
}
make_file 100000 "$WD/file.txt"
make_file 200000 "$WD/stream.txt"

run() { # NAME ARGS...
  local name="$1"; shift
  /usr/bin/time -v -o "$WD/$name.time" timeout -k 5 $((SECS * 4 + 120)) \
    taskset -c 0 "$BIN" run --threads 1 --summary kv --quiet "$@" >"$WD/$name.kv" 2>"$WD/$name.err" \
    || { echo "requests.sh: run $name failed:" >&2; cat "$WD/$name.err" >&2; exit 1; }
}

echo "loadgen $("$BIN" --version | awk '{print $2}') against serve http on $ADDR (server cpu 1, generator cpu 0, 1 thread each), closed loop 50 slots, ${SECS}s × $REPS"
BODY='{"id":"00000000-0000-4000-8000-000000000000","n":1}'
for r in $(seq "$REPS"); do
  run "fixed$r" "http://$ADDR/items/1" -m POST -H 'Content-Type: application/json' --body "$BODY" -c 50 -d "${SECS}s"
  run "file$r" --targets "$WD/file.txt" -c 50 -d "${SECS}s"
  run "stream$r" --targets "$WD/stream.txt" -c 50 -d "${SECS}s"
  for k in fixed file stream; do
    printf '  rep %d %-6s %8s req/s   CPU %6s µs/request   success %s of %s   max RSS %s MB\n' \
      "$r" "$k" "$(kv "$k$r" rps)" "$(us_per_load "$k$r")" "$(kv "$k$r" success)" "$(kv "$k$r" scheduled)" "$(rss_mb "$k$r")"
  done
done
F=$(for r in $(seq "$REPS"); do us_per_load "fixed$r"; done | median)
L=$(for r in $(seq "$REPS"); do us_per_load "file$r"; done | median)
S=$(for r in $(seq "$REPS"); do us_per_load "stream$r"; done | median)
awk -v f="$F" -v l="$L" -v s="$S" 'BEGIN {
  printf "median CPU µs/request: fixed %s   file+templates %s (%.2f×)   streamed file+templates %s (%.2f×)\n", f, l, l / f, s, s / f }'

[ "$SKIP_MEM" = 1 ] && exit 0
echo
for n in 1000000 10000000; do
  f="$WORK/get-$n.txt"
  [ -s "$f" ] || awk -v n="$n" -v a="$ADDR" 'BEGIN { for (i = 0; i < n; i++) printf "GET http://%s/s/%d\n", a, i }' > "$f.tmp"
  [ -s "$f" ] || mv "$f.tmp" "$f"
  # the port changes between runs: the file's host is rewritten only when it differs
  head -n1 "$f" | grep -q "//$ADDR/" || { sed -i "s#//[^/]*/#//$ADDR/#" "$f"; }
  run "mem$n" --targets "$f" -r 20000 -d 5s -c 100
  printf '  %9d-line file (%s MB): max RSS %s MB, wall %s s for a 5 s run, success %s of %s, %s\n' \
    "$n" "$(( $(stat -c %s "$f") / 1048576 ))" "$(rss_mb "mem$n")" "$(wall_s "mem$n")" "$(kv "mem$n" success)" "$(kv "mem$n" scheduled)" \
    "$(grep -o 'requests=[^ ]*' "$WD/mem$n.kv" || true)"
done
