#!/usr/bin/env bash
# bench/peer.sh — loadgen in the side-by-side peer benchmark (../shared/bench/peerbench.sh):
# nginx on one core, each tool on the other; max throughput at 50 connections and a fixed
# rate. loadgen prints the `requests= rps= p50_us= p99_us= errors=` lines the script reads
# (`--summary kv`), runs one generator thread (the script gives the tool one CPU), and uses
# as many connections as the peers. Extra arguments go to peerbench.sh (e.g. --reps 3).
# Peers install with: apt-get install -y wrk apache2-utils nghttp2-client hey nginx-light
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
BIN="$PWD/target/release/loadgen"
PEERBENCH="${PEERBENCH:-../shared/bench/peerbench.sh}"
exec "$PEERBENCH" --ours-name loadgen \
  --ours "$BIN run {url} -r {rate} -c {conns} --connections {conns} -d {secs}s --threads 1 --summary kv --quiet" \
  "$@"
