#!/usr/bin/env bash
# bench/overload.sh — how loadgen behaves PAST the target's capacity, every target kind side
# by side in one run. For each kind it
#   (a) runs a closed loop with N connections (`-c N --connections N`) to find the capacity
#       C = successes/s ("closed");
#   (b) runs open-model at 2×C and 5×C with the same `--connections N` ("2x", "5x");
#   (c) runs at 2×C with default flags: no --connections, no -c ("2x-default"; then the
#       concurrency is ceil(rate × timeout) + 1 and HTTP/1.1, calc and tcp open one
#       connection per slot).
# The server runs on one CPU (--server-cpu, default 1), loadgen on the other (--tool-cpu,
# default 0) with `--threads 1`, every run under /usr/bin/time -v and `timeout -k 3`.
#
# Kinds (--kinds, default: all available):
#   nginx        nginx started here (127.0.0.1 only, one worker, `return 200 "ok"`,
#                keepalive_requests 100000000, worker_connections 10000), loadgen's fast
#                HTTP/1.1 client; skipped when nginx is not installed
#   nginx-hyper  the same nginx, `--hyper`
#   nginx-h2     HTTP/2 (`--http2`, h2c prior knowledge) against `loadgen serve http`
#                (the h2c server; --h2-server nginx uses nginx with `listen ... http2` instead)
#   calc         `loadgen serve calc --listen 127.0.0.1:0 --threads 1`
#   http         `loadgen serve http --listen 127.0.0.1:0 --threads 1`, fast HTTP/1.1 client
#   tcp          `loadgen serve echo --tcp 127.0.0.1:0 --threads 1`
# When wrk2 is on PATH (and the nginx kind runs), wrk2 rows follow nginx at 2×C and 5×C:
#   wrk2 -t1 -c N -d Ss -R RATE --latency URL
#
# Usage:
#   bench/overload.sh [--kinds 'LIST'] [--conns N] [--secs N] [--dry-run] [options]
#
# Options:
#   --kinds 'LIST'        kinds to run (default: all available, in the order above)
#   --conns N             connections of the closed loop and of the 2x/5x runs (default 50)
#   --secs N              seconds per run (default 4)
#   --limit N             hard bound per run in seconds (default 2 × secs + 10)
#   --loadgen-args 'ARGS' extra arguments for every loadgen run
#   --h2-server loadgen|nginx   the server of the nginx-h2 kind (default loadgen)
#   --no-wrk2             no wrk2 rows
#   --no-build            do not run `cargo build --release -q` first ($LOADGEN, if set, is used as is)
#   --port N              nginx port on 127.0.0.1 (default 18081)
#   --server-cpu N, --tool-cpu N   CPUs (default 1 and 0)
#   --dry-run             print the commands (rates as 2C / 5C) without running anything
#   --keep                keep the work directory under /tmp (every run's output)
#
# Table columns: kind, mode, target rate (r/s), offered (loadgen's offered_rate), TPS
# (successes/s, kv `rps`), ×C (TPS / closed-loop TPS), µs/load = generator user+sys CPU /
# (scheduled − dropped), max RSS MB, wall time / requested duration, dropped, timeout,
# cancelled, other (every other non-success), p99 latency, loadgen's generator_bound, exit code.
# The exact commands follow.
# Reads loadgen's `--summary kv` keys: rps scheduled success dropped timeout cancelled p99_us
# offered_rate generator_bound. For wrk2 rows: completed = "N requests in", timeouts = its socket timeouts.
#
# Needs: taskset, timeout, python3, /usr/bin/time (apt-get install -y time); nginx for the
# nginx kinds.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ALL_KINDS="nginx nginx-hyper nginx-h2 calc http tcp"
KINDS="" CONNS=50 SECS=4 LIMIT="" LG_ARGS="" H2_SERVER=loadgen WRK2=1 BUILD=1
PORT=18081 SERVER_CPU=1 TOOL_CPU=0 DRY=0 KEEP=0

die() { echo "overload.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --kinds) KINDS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --loadgen-args) LG_ARGS="$2"; shift 2 ;;
    --h2-server) H2_SERVER="$2"; shift 2 ;;
    --no-wrk2) WRK2=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --port) PORT="$2"; shift 2 ;;
    --server-cpu) SERVER_CPU="$2"; shift 2 ;;
    --tool-cpu) TOOL_CPU="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
isint() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; }
[ -n "$LIMIT" ] || LIMIT=$((2 * SECS + 10))
for v in CONNS SECS LIMIT PORT SERVER_CPU TOOL_CPU; do
  isint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
if [ "$SECS" -lt 1 ] || [ "$CONNS" -lt 1 ]; then die "need --secs >= 1 and --conns >= 1"; fi
case "$H2_SERVER" in loadgen|nginx) ;; *) die "--h2-server is loadgen or nginx" ;; esac
read -r -a EXTRA <<< "$LG_ARGS"

HAVE_NGINX=0; command -v nginx >/dev/null 2>&1 && HAVE_NGINX=1
HAVE_WRK2=0; [ "$WRK2" = 1 ] && command -v wrk2 >/dev/null 2>&1 && HAVE_WRK2=1
needs_nginx() { case "$1" in nginx|nginx-hyper) return 0 ;; nginx-h2) [ "$H2_SERVER" = nginx ] ;; *) return 1 ;; esac; }
if [ -z "$KINDS" ]; then
  for k in $ALL_KINDS; do
    if needs_nginx "$k" && [ "$HAVE_NGINX" = 0 ]; then echo "note: nginx not installed, kind $k skipped" >&2; continue; fi
    KINDS="$KINDS $k"
  done
else
  for k in $KINDS; do
    case " $ALL_KINDS " in *" $k "*) ;; *) die "unknown kind '$k' (known: $ALL_KINDS)" ;; esac
    if needs_nginx "$k" && [ "$HAVE_NGINX" = 0 ] && [ "$DRY" = 0 ]; then die "kind $k needs nginx (apt-get install -y nginx-light)"; fi
  done
fi
[ -n "${KINDS// /}" ] || die "no kinds to run"

if [ "$DRY" = 0 ]; then
  for need in taskset timeout python3; do command -v "$need" >/dev/null || die "missing $need"; done
  [ -x /usr/bin/time ] || die "missing /usr/bin/time (apt-get install -y time)"
fi

# --------------------------------------------------------------- loadgen ----
if [ -n "${LOADGEN:-}" ]; then
  BIN="$LOADGEN"
else
  if [ "$BUILD" = 1 ] && [ "$DRY" = 0 ]; then (cd "$ROOT" && cargo build --release -q) || die "cargo build failed"; fi
  BIN="$ROOT/target/release/loadgen"
fi
[ "$DRY" = 1 ] || [ -x "$BIN" ] || die "no loadgen binary at $BIN (build it, or set LOADGEN)"

WD="$(mktemp -d /tmp/loadgen-overload.XXXXXX)"
SRV_PID=""
stop_server() {
  if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  SRV_PID=""
}
cleanup() {
  stop_server
  if [ "$KEEP" = 1 ]; then echo "work dir kept: $WD" >&2; else rm -rf "$WD"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

q() { local s; s="$(printf '%q ' "$@")"; printf '%s' "${s% }"; }   # a command, shell-quoted

# ---------------------------------------------------------------- servers ----
write_nginx_conf() {  # DIR H2(0|1)
  local d="$1" h2="" 
  [ "$2" = 1 ] && h2=" http2"
  mkdir -p "$d"
  cat > "$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 10000; multi_accept on; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:${PORT}${h2} backlog=4096;
        location / { return 200 "ok"; }
    }
}
EOF
}

# start_server KIND: sets SRV_PID and TARGET (in a dry run only prints the command)
start_server() {
  local k="$1" d="$WD/srv.$1" cmd=() addr="" scheme
  mkdir -p "$d"
  if needs_nginx "$k"; then
    write_nginx_conf "$d" "$([ "$k" = nginx-h2 ] && echo 1 || echo 0)"
    cmd=(taskset -c "$SERVER_CPU" nginx -c "$d/nginx.conf" -p "$d/")
    TARGET="http://127.0.0.1:$PORT/"
  else
    case "$k" in
      calc) cmd=(taskset -c "$SERVER_CPU" "$BIN" serve calc --listen 127.0.0.1:0 --threads 1); scheme="calc://" ;;
      http|nginx-h2) cmd=(taskset -c "$SERVER_CPU" "$BIN" serve http --listen 127.0.0.1:0 --threads 1); scheme="http://" ;;
      tcp) cmd=(taskset -c "$SERVER_CPU" "$BIN" serve echo --tcp 127.0.0.1:0 --threads 1); scheme="tcp://" ;;
    esac
    TARGET="${scheme}ADDR"; [ "$scheme" = "http://" ] && TARGET="${TARGET}/"
  fi
  printf '%-12s server  %s\n' "$k" "$(q "${cmd[@]}")" >> "$WD/cmds.txt"
  [ "$DRY" = 1 ] && return 0
  if needs_nginx "$k" && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "127.0.0.1:$PORT is already in use; pick another --port"
  fi
  "${cmd[@]}" >"$d/stdout.log" 2>"$d/stderr.log" </dev/null &
  SRV_PID=$!   # taskset execs the server, so this is its PID
  for _ in $(seq 1 50); do
    if needs_nginx "$k"; then
      (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && { addr=ok; break; }
    else
      addr="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$d/stderr.log" | head -n1)"
      [ -n "$addr" ] && break
    fi
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    cat "$d/stdout.log" "$d/stderr.log" "$d/error.log" >&2 2>/dev/null || true
    die "server for $k did not start"
  fi
  TARGET="${TARGET/ADDR/$addr}"
}

# ------------------------------------------------------------------- runs ----
printf 'kind\tmode\ttool\trate\trc\tbase\n' > "$WD/runs.tsv"
N=0
# run KIND MODE TOOL RATE CMD... : one bounded run of CMD on the tool CPU; leaves $LAST (file base)
run() {
  local k="$1" m="$2" tool="$3" rate="$4" rc base; shift 4
  N=$((N + 1)); base="$WD/run.$N"; LAST="$base"
  printf '%-12s %-10s %s\n' "$k" "$m" "$(q "$@")" >> "$WD/cmds.txt"
  if [ "$DRY" = 1 ]; then return 0; fi
  echo "  $k $m${rate:+ at $rate/s} ($tool)" >&2
  set +e
  /usr/bin/time -v -o "$base.time" timeout -k 3 "$LIMIT" taskset -c "$TOOL_CPU" "$@" >"$base.out" 2>"$base.err" </dev/null
  rc=$?
  set -e
  if [ "$rc" != 0 ]; then echo "    exit code $rc: $(tail -n 2 "$base.err" | tr '\n' ' ')" >&2; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$m" "$tool" "$rate" "$rc" "$base" >> "$WD/runs.tsv"
  sleep 1
}
kv() { sed -n "s/^$2=//p" "$1.out" | head -n1; }

echo "overload.sh: kinds:$KINDS; conns=$CONNS secs=$SECS limit=${LIMIT}s; server cpu $SERVER_CPU, loadgen cpu $TOOL_CPU;" \
     "ulimit -n $(ulimit -n); wrk2 rows: $([ "$HAVE_WRK2" = 1 ] && echo yes || echo no)" >&2
for k in $KINDS; do
  flags=()
  case "$k" in nginx-hyper) flags=(--hyper) ;; nginx-h2) flags=(--http2) ;; esac
  start_server "$k"
  common=(-d "${SECS}s" --threads 1 --summary kv --quiet "${flags[@]}" "${EXTRA[@]}")
  run "$k" closed loadgen "" "$BIN" run "$TARGET" -c "$CONNS" --connections "$CONNS" "${common[@]}"
  if [ "$DRY" = 1 ]; then
    R2="2C" R5="5C"
  else
    C="$(kv "$LAST" rps)"
    if ! awk -v c="${C:-0}" 'BEGIN { exit !(c >= 1) }'; then
      echo "  $k: no capacity from the closed loop (rps='$C'); open runs skipped" >&2
      stop_server; continue
    fi
    R2="$(awk -v c="$C" 'BEGIN { printf "%d", 2 * c + 0.5 }')"
    R5="$(awk -v c="$C" 'BEGIN { printf "%d", 5 * c + 0.5 }')"
  fi
  run "$k" 2x loadgen "$R2" "$BIN" run "$TARGET" -r "$R2" --connections "$CONNS" "${common[@]}"
  run "$k" 5x loadgen "$R5" "$BIN" run "$TARGET" -r "$R5" --connections "$CONNS" "${common[@]}"
  run "$k" 2x-default loadgen "$R2" "$BIN" run "$TARGET" -r "$R2" "${common[@]}"
  if [ "$k" = nginx ] && [ "$HAVE_WRK2" = 1 ]; then
    run "$k" 2x wrk2 "$R2" wrk2 -t1 -c "$CONNS" -d "${SECS}s" -R "$R2" --latency "$TARGET"
    run "$k" 5x wrk2 "$R5" wrk2 -t1 -c "$CONNS" -d "${SECS}s" -R "$R5" --latency "$TARGET"
  fi
  stop_server
done

if [ "$DRY" = 1 ]; then
  echo "commands (dry run; 2C / 5C = twice / five times the closed loop's TPS, ADDR = the address the server prints;"
  echo "every run: /usr/bin/time -v -o FILE timeout -k 3 $LIMIT taskset -c $TOOL_CPU COMMAND):"
  sed 's/^/  /' "$WD/cmds.txt"
  exit 0
fi

# ------------------------------------------------------------------ table ----
python3 - "$WD/runs.tsv" "$SECS" <<'PY'
import csv, re, sys
runs, secs = sys.argv[1], float(sys.argv[2])
rows = list(csv.DictReader(open(runs), delimiter="\t"))
def rd(p):
    try: return open(p, errors="replace").read()
    except OSError: return ""
def g(rx, s, f=float, d=None):
    m = re.search(rx, s, re.M)
    return f(m.group(1)) if m else d
def fmt(v, p=0):
    return "-" if v is None else "%.*f" % (p, v)
def lat(v):
    if v is None: return "-"
    return "%.0fus" % v if v < 1000 else ("%.1fms" % (v / 1e3) if v < 1e6 else "%.2fs" % (v / 1e6))
UNIT = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}
cap = {}
out = []
for r in rows:
    txt, tv = rd(r["base"] + ".out"), rd(r["base"] + ".time")
    cpu = (g(r"User time \(seconds\): ([\d.]+)", tv, d=0.0) + g(r"System time \(seconds\): ([\d.]+)", tv, d=0.0)) if tv else None
    rss = g(r"Maximum resident set size \(kbytes\): (\d+)", tv)
    mm = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", tv)
    wall = (int(mm.group(1) or 0) * 3600 + int(mm.group(2)) * 60 + float(mm.group(3))) if mm else None
    offered = tps = done = dropped = tmo = canc = other = p99 = None; gb = "-"
    if r["tool"] == "loadgen":
        kv = dict(re.findall(r"^(\w+)=([\w.]+)\s*$", txt, re.M))
        n = lambda k: float(kv[k]) if k in kv else None
        tps, offered, p99 = n("rps"), n("offered_rate"), n("p99_us")
        sched, dropped, tmo, succ = n("scheduled"), n("dropped"), n("timeout"), n("success")
        canc = n("cancelled")
        gb = {"true": "yes", "false": "no"}.get(kv.get("generator_bound"), "-")
        done = sched - dropped if sched is not None and dropped is not None else None
        if None not in (sched, succ, dropped, tmo, canc):
            other = sched - succ - dropped - tmo - canc
    else:  # wrk2
        done = g(r"(\d+) requests in", txt)
        rps = g(r"Requests/sec:\s+([\d.]+)", txt)
        bad = g(r"Non-2xx or 3xx responses:\s+(\d+)", txt, d=0)
        se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", txt)
        tmo = float(se.group(4)) if se else (0.0 if done is not None else None)
        if done is not None:
            other = bad + (sum(map(int, se.groups()[:3])) if se else 0)
            tps = rps * (done - bad) / done if rps is not None and done else rps
        m99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", txt, re.M)
        p99 = float(m99.group(1)) * UNIT[m99.group(2)] if m99 else None
        offered = float(r["rate"]) if r["rate"] else None
    if r["mode"] == "closed" and r["tool"] == "loadgen":
        cap[r["kind"]] = tps
    c = cap.get(r["kind"])
    per = cpu * 1e6 / done if cpu is not None and done else None
    kind = r["kind"] + ("/wrk2" if r["tool"] == "wrk2" else "")
    out.append([kind, r["mode"], r["rate"] or "-", fmt(offered), fmt(tps),
                "%.2f" % (tps / c) if tps is not None and c else "-", fmt(per, 1),
                fmt(rss / 1024 if rss is not None else None, 1),
                "%s/%gs" % (fmt(wall, 1), secs), fmt(dropped), fmt(tmo), fmt(canc), fmt(other), lat(p99), gb, r["rc"]])
hdr = ["kind", "mode", "target/s", "offered/s", "TPS", "xC", "us/load", "RSS MB", "wall", "dropped", "timeout", "cancelled", "other", "p99", "gen-bound", "rc"]
w = [max(len(x[i]) for x in [hdr] + out) for i in range(len(hdr))]
for x in [hdr] + out:
    print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(x)).rstrip())
print("\nTPS = successes/s; xC = TPS / the kind's closed-loop TPS; us/load = generator user+sys CPU / (scheduled - dropped)"
      "\n(wrk2: / completed requests); wall = elapsed / requested; cancelled = in flight at the stop after the grace;"
      "\nother = every other non-success (call/response/callee errors, fatal; wrk2: socket and non-2xx errors);"
      "\ngen-bound = loadgen's own generator_bound verdict; rc 124/137 = killed by timeout.")
PY
echo
echo "commands (every run: /usr/bin/time -v -o FILE timeout -k 3 $LIMIT taskset -c $TOOL_CPU COMMAND):"
sed 's/^/  /' "$WD/cmds.txt"
[ "$KEEP" = 1 ] || echo "  (the nginx configs and every run's output live in the work dir only with --keep)"
