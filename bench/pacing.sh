#!/usr/bin/env bash
# bench/pacing.sh — what a fixed rate costs and how smooth it arrives, side by side in one run.
#
# At --rate (default 5,000/s) with --conns connections (default 50), for --secs each, against
# two services on CPU 1 (the tool on CPU 0, one generator thread):
#   delay5   nginx proxying to `loadgen serve http --delay 5ms` (a ~5 ms service)
#   nginx    nginx answering `return 200` itself (a ~0.1 ms service)
# nginx logs each request's arrival (`$msec` − `$request_time`, millisecond grain), so the
# smoothness is measured at the server, not trusted from the tool:
#   burst p99 / max   requests that arrived in one millisecond (the mean is rate / 1000)
#   idle %            milliseconds of the run in which nothing arrived
# Tools (rows), each --reps times (default 2), medians printed:
#   loadgen auto      `loadgen run URL -r RATE -c 2×conns --connections CONNS --threads 1`
#                     (the default `--pacing-quantum auto`)
#   loadgen 100us / 1ms   the same with a fixed `--pacing-quantum`
#   wrk2              `wrk2 -t1 -cCONNS -dSECSs -RRATE` (when wrk2 is on PATH or $WRK2 names it)
#   h2load            `h2load --h1 -cCONNS -t1 -DSECS --rps RATE/CONNS` (when installed)
# Columns: completed/s; CPU µs/request (user+sys of the tool / completed, /usr/bin/time -v);
# loadgen's send lag p99 (kv lag_p99_us) and the quantum it paced with (JSON
# generator.quantum_ms); burst p99 / max; idle %. The first and the last 500 ms of each run
# are left out of the burst figures (connects, the end).
#
# Usage: bench/pacing.sh [--secs N] [--reps N] [--rate N] [--conns N] [--kinds 'delay5 nginx']
#                        [--no-build] [--port N] [--keep]
# Needs: nginx (apt-get install -y nginx-light), taskset, python3, /usr/bin/time; optional
# wrk2 (built from its repository) and h2load (apt-get install -y nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=5 REPS=2 RATE=5000 CONNS=50 KINDS="delay5 nginx" BUILD=1 PORT=18082 KEEP=0
die() { echo "pacing.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --secs) SECS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --kinds) KINDS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --port) PORT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
command -v nginx >/dev/null || die "needs nginx (apt-get install -y nginx-light)"
. bench/lib.sh
bench_init pacing.sh "$BUILD"
WRK2=${WRK2:-$(command -v wrk2 || true)}
H2LOAD=$(command -v h2load || true)
NGINX_PID=
bench_cleanup_more() { [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null; return 0; }

start_backend() {  # the 5 ms service behind nginx (bench/lib.sh's start_server); sets BACKEND
  start_server backend http --delay 5ms
  BACKEND=$ADDR
}

start_nginx() {  # KIND
  local d="$WD/nginx.$1" loc
  mkdir -p "$d"
  if [ "$1" = delay5 ]; then
    loc="proxy_pass http://back; proxy_http_version 1.1; proxy_set_header Connection \"\";"
  else
    loc="return 200 \"ok\";"
  fi
  cat > "$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 10000; }
http {
    log_format arrival '\$msec \$request_time';
    access_log $d/access.log arrival;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    upstream back { server ${BACKEND:-127.0.0.1:9}; keepalive 256; }
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location / { $loc }
    }
}
EOF
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "127.0.0.1:$PORT is in use; pick another --port"
  taskset -c 1 nginx -c "$d/nginx.conf" -p "$d/" >/dev/null 2>&1 &
  NGINX_PID=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  ACCESS=$d/access.log
}

stop_nginx() {
  kill -QUIT "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=
}

URL="http://127.0.0.1:$PORT/"
run() {  # KIND TOOL REP COMMAND...
  local kind=$1 tool=$2 rep=$3; shift 3
  local base="$WD/$kind.$tool.$rep"
  local before; before=$(wc -l < "$ACCESS")
  /usr/bin/time -v -o "$base.time" timeout -k 3 $((SECS * 2 + 15)) taskset -c 0 "$@" \
    > "$base.out" 2> "$base.err" || true
  sleep 0.3
  tail -n +$((before + 1)) "$ACCESS" > "$base.log"
  printf '%s\t%s\t%s\t%s\n' "$kind" "$tool" "$base" "$*" >> "$WD/runs.tsv"
}

: > "$WD/runs.tsv"
for kind in $KINDS; do
  case "$kind" in delay5) start_backend ;; nginx) ;; *) die "unknown kind $kind" ;; esac
  start_nginx "$kind"
  # warm up the connections and the backend
  "$BIN" run "$URL" -r 500 -d 1s --connections "$CONNS" --summary none >/dev/null 2>&1 || true
  for rep in $(seq "$REPS"); do
    for q in auto 100us 1ms; do
      run "$kind" "loadgen-$q" "$rep" "$BIN" run "$URL" -r "$RATE" -d "${SECS}s" \
        -c $((CONNS * 2)) --connections "$CONNS" --threads 1 --pacing-quantum "$q" \
        --summary kv --json "$WD/$kind.loadgen-$q.$rep.json"
    done
    [ -n "$WRK2" ] && run "$kind" wrk2 "$rep" "$WRK2" -t1 -c"$CONNS" -d"${SECS}s" -R"$RATE" "$URL"
    [ -n "$H2LOAD" ] && run "$kind" h2load "$rep" "$H2LOAD" --h1 -c "$CONNS" -t 1 -D "$SECS" \
      --rps $((RATE / CONNS)) "$URL"
  done
  stop_nginx
done

python3 - "$WD/runs.tsv" "$SECS" <<'PY'
import json, re, statistics, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
secs = float(sys.argv[2])
def rd(p):
    try:
        return open(p).read()
    except OSError:
        return ""
def g(pat, s):
    m = re.search(pat, s, re.M)
    return float(m.group(1)) if m else None
res = defaultdict(list)
cmds = {}
for kind, tool, base, cmd in rows:
    cmds[(kind, tool)] = cmd
    out, tv = rd(base + ".out"), rd(base + ".time")
    cpu = (g(r"User time \(seconds\): ([\d.]+)", tv) or 0) + (g(r"System time \(seconds\): ([\d.]+)", tv) or 0)
    lag = q = None
    if tool.startswith("loadgen"):
        kv = dict(re.findall(r"^(\w+)=(\S+)$", out, re.M))
        done = float(kv.get("success", 0))
        lag = float(kv["lag_p99_us"]) / 1e3 if "lag_p99_us" in kv else None
        try:
            q = json.load(open(base + ".json"))["generator"].get("quantum_ms")
        except (OSError, ValueError, KeyError):
            pass
    elif tool == "wrk2":
        done = g(r"(\d+) requests in", out) or 0
    else:
        done = g(r"(\d+) succeeded", out) or 0
    # arrivals per millisecond at the server, the first and last 500 ms left out
    ms = []
    for line in rd(base + ".log").split("\n"):
        p = line.split()
        if len(p) == 2:
            ms.append(int(round(float(p[0]) * 1000 - float(p[1]) * 1000)))
    burst_p99 = burst_max = idle = None
    if ms:
        lo, hi = min(ms) + 500, max(ms) - 500
        counts = defaultdict(int)
        for m in ms:
            if lo <= m < hi:
                counts[m] += 1
        span = max(hi - lo, 1)
        per = sorted(counts.get(m, 0) for m in range(lo, hi))
        if per:
            burst_p99 = per[min(len(per) - 1, int(0.99 * len(per)))]
            burst_max = per[-1]
            idle = 100.0 * sum(1 for c in per if c == 0) / span
    res[(kind, tool)].append(dict(rate=done / secs, us=cpu * 1e6 / done if done else None,
                                  lag=lag, q=q, p99=burst_p99, max=burst_max, idle=idle))
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def f(v, fmt):
    return "-" if v is None else fmt % v
hdr = ["service", "tool", "completed/s", "CPU us/req", "lag p99 ms", "quantum ms", "burst p99", "burst max", "idle %", "runs"]
out = []
for (kind, tool), rs in res.items():
    m = {k: med([r[k] for r in rs]) for k in rs[0]}
    out.append([kind, tool, f(m["rate"], "%.0f"), f(m["us"], "%.1f"), f(m["lag"], "%.3f"),
                f(m["q"], "%.3f"), f(m["p99"], "%.0f"), f(m["max"], "%.0f"), f(m["idle"], "%.0f"),
                " / ".join(f(r["us"], "%.1f") for r in rs)])
w = [max(len(x[i]) for x in [hdr] + out) for i in range(len(hdr))]
for x in [hdr] + out:
    print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(x)).rstrip())
print("\nmedians of the runs; runs = CPU us/req of each; burst = requests that arrived at nginx in one ms (mean = rate/1000)")
print("\ncommands (each: /usr/bin/time -v timeout taskset -c 0 COMMAND; nginx and the backend on CPU 1):")
for (kind, tool), c in cmds.items():
    print("  %-7s %-14s %s" % (kind, tool, c))
PY
