#!/usr/bin/env bash
# bench/watch.sh — what watching a run costs: generator CPU per load at a fixed rate against
# `loadgen serve http`, side by side:
#   plain     no live view;
#   metrics   --metrics (scraped once a second, as Prometheus would) and --live FILE;
#   tui       --tui in a 120×40 tmux pane, with --metrics scraped once a second.
# REPS rounds of the three (interleaved), SECS each (default 60 s at 5,000 req/s); medians
# of CPU µs per load (user + sys of the whole process, /usr/bin/time -v).
#
# The server runs on CPU 1, the generator on CPU 0 (one thread). Needs tmux for the tui
# rows (skipped without it) and curl for the scrapes.
#
# Usage: bench/watch.sh [--secs N] [--rate N] [--reps N]
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=60 RATE=5000 REPS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --secs) SECS="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "watch.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v curl >/dev/null || { echo "watch.sh: needs curl" >&2; exit 2; }
HAS_TMUX=1; command -v tmux >/dev/null || HAS_TMUX=0
. bench/lib.sh
SESSION="loadgen-watch-$$"
bench_cleanup_more() { tmux kill-session -t "$SESSION" 2>/dev/null || true; }
bench_init watch.sh
start_server http http
PORT=$((19000 + $$ % 1000))
ARGS="http://$ADDR/ -r $RATE -d ${SECS}s --threads 1 --summary kv --quiet"

scrape() { # scrapes the metrics port once a second until the file $1 exists
  while [ ! -e "$1" ]; do curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics" || true; sleep 1; done
}

run() { # NAME EXTRA...
  local name="$1"; shift
  rm -f "$WD/$name.done"
  local scraper=""
  case "$name" in
    plain*) ;;
    *) scrape "$WD/$name.done" & scraper=$! ;;
  esac
  /usr/bin/time -v -o "$WD/$name.time" timeout -k 5 $((SECS + 60)) taskset -c 0 "$BIN" run $ARGS "$@" \
    >"$WD/$name.kv" 2>"$WD/$name.err" || { echo "watch.sh: $name failed" >&2; cat "$WD/$name.err" >&2; exit 1; }
  touch "$WD/$name.done"
  [ -z "$scraper" ] || wait "$scraper" 2>/dev/null || true
}

run_tui() { # NAME
  local name="$1"
  rm -f "$WD/$name.done"
  scrape "$WD/$name.done" &
  local scraper=$!
  tmux new-session -d -s "$SESSION" -x 120 -y 40 \
    "/usr/bin/time -v -o '$WD/$name.time' timeout --foreground -k 5 $((SECS + 60)) taskset -c 0 '$BIN' run $ARGS --tui --metrics 127.0.0.1:$PORT --json '$WD/$name.json' 2> '$WD/$name.err'; touch '$WD/$name.done'" </dev/null >/dev/null 2>&1
  while [ ! -e "$WD/$name.done" ]; do sleep 0.5; done
  [ -s "$WD/$name.json" ] || { echo "watch.sh: $name failed" >&2; cat "$WD/$name.err" >&2; exit 1; }
  tmux kill-session -t "$SESSION" 2>/dev/null || true
  wait "$scraper" 2>/dev/null || true
}

loads() { case "$1" in tui*) jq .counts.scheduled "$WD/$1.json" ;; *) kv "$1" scheduled ;; esac; }
per_load() { awk -v c="$(cpu_s "$1")" -v n="$(loads "$1")" 'BEGIN {printf "%.2f\n", n ? c * 1e6 / n : 0}'; }

echo "loadgen $("$BIN" --version | awk '{print $2}'): $RATE req/s for ${SECS}s against serve http (server cpu 1, generator cpu 0), $REPS rounds"
for r in $(seq "$REPS"); do
  run "plain$r"
  run "metrics$r" --metrics "127.0.0.1:$PORT" --live "$WD/live$r.jsonl"
  [ "$HAS_TMUX" = 1 ] && run_tui "tui$r"
  for k in plain metrics tui; do
    [ -e "$WD/$k$r.time" ] || continue
    printf '  round %d %-8s CPU %6s µs/load over %s loads\n' "$r" "$k" "$(per_load "$k$r")" "$(loads "$k$r")"
  done
done
P=$(for r in $(seq "$REPS"); do per_load "plain$r"; done | median)
M=$(for r in $(seq "$REPS"); do per_load "metrics$r"; done | median)
line="median CPU µs/load: plain $P   metrics+live $M ($(awk -v a="$M" -v b="$P" 'BEGIN {printf "%+.1f%%", (a - b) / b * 100}'))"
if [ "$HAS_TMUX" = 1 ]; then
  T=$(for r in $(seq "$REPS"); do per_load "tui$r"; done | median)
  line="$line   tui+metrics $T ($(awk -v a="$T" -v b="$P" 'BEGIN {printf "%+.1f%%", (a - b) / b * 100}'))"
fi
echo "$line"
