#!/usr/bin/env bash
# bench/peer.sh — loadgen side by side with other HTTP/1.1 load generators against one
# local nginx that this script starts itself (127.0.0.1 only, one worker, `return 200 "ok"`,
# keepalive_requests 100000000). nginx is pinned to one CPU, each tool to the other; runs are
# interleaved (A B C A B C ...) so drift on a shared machine hits every tool alike, and the
# table shows medians over the repetitions. Self-contained: it needs nothing outside this
# repository but the tools themselves.
#
# Usage:
#   bench/peer.sh [options]
#
# Options:
#   --reps N              repetitions, interleaved (default 3)
#   --secs N              seconds per run, 1..60 (default 8)
#   --conns N             connections (default 50)
#   --rate N              target req/s of the fixed-rate mode (default 5000)
#   --modes 'LIST'        max and/or rate (default "max rate")
#   --tools 'LIST'        peers (default "wrk wrk2 h2load oha hey ab"; bombardier also
#                         understood); a peer not on PATH is skipped with a note.
#                         loadgen is always a row.
#   --loadgen-args 'ARGS' extra arguments for every loadgen run (e.g. pacing options:
#                         --loadgen-args '--pacing-quantum 1ms')
#   --no-build            do not run `cargo build --release -q` first
#   --port N              nginx port on 127.0.0.1 (default 18080)
#   --server-cpu N        CPU for nginx (default 1); --tool-cpu N: CPU for the tools (default 0)
#   --raw FILE            also copy the raw per-run TSV to FILE
#   --keep                keep the work directory under /tmp
#
# Environment: LOADGEN=/path/to/loadgen uses that binary (and skips the build).
#
# Modes:
#   max   closed loop with --conns connections: throughput (successful req/s), CPU µs per
#         request = (user+sys) / successful requests, the user part alone, max RSS, and the
#         nginx worker's CPU %.
#   rate  fixed rate: achieved rate, error % (non-successes / all requests), CPU µs/req,
#         p50, p99, max RSS and, for loadgen, the send-lag p99 (`lag_p99_us`, `-` when the
#         binary does not print it). wrk has no rate mode; wrk2 has no closed loop.
#         After the table: the CPU one sleep/wake-up costs on the tool CPU at the request
#         interval (examples/wake_cost.rs) — the floor per request of sending on time.
#
# Command lines ({url} {conns} {secs} {rate} are filled in; all printed after the table):
#   loadgen max:  loadgen run {url} -c {conns} --connections {conns} -d {secs}s --threads 1 --summary kv --quiet
#   loadgen rate: loadgen run {url} -r {rate} --connections {conns} -d {secs}s --threads 1 --summary kv --quiet
#   wrk2 rate:    wrk2 -t1 -c{conns} -d{secs}s -R{rate} --latency {url}
#   (wrk2 calibrates for its first ~10 s and then resets its histogram; with --secs <= 10 its
#   percentiles cover the whole run.)
#
# loadgen's `--summary kv` lines read here: requests= (successes) rps= (successes/s)
# p50_us= p99_us= errors= (every other outcome, dropped included) and lag_p99_us= if present.
#
# Needs: nginx, taskset, timeout, python3, /usr/bin/time (apt-get install -y time).
# Peers: apt-get install -y wrk apache2-utils nghttp2-client hey nginx-light; wrk2 from source.
# Every run is bounded by `timeout -k 3`; nginx is stopped by its PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PORT=18080 CONNS=50 SECS=8 RATE=5000 REPS=3 SERVER_CPU=1 TOOL_CPU=0
TOOLS="wrk wrk2 h2load oha hey ab"
MODES="max rate"
LG_ARGS="" BUILD=1 RAW_OUT="" KEEP=0

die() { echo "peer.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --tools) TOOLS="$2"; shift 2 ;;
    --loadgen-args) LG_ARGS="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --port) PORT="$2"; shift 2 ;;
    --server-cpu) SERVER_CPU="$2"; shift 2 ;;
    --tool-cpu) TOOL_CPU="$2"; shift 2 ;;
    --raw) RAW_OUT="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
isint() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; }
for v in REPS SECS CONNS RATE PORT SERVER_CPU TOOL_CPU; do
  isint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
if [ "$SECS" -lt 1 ] || [ "$SECS" -gt 60 ]; then die "--secs must be 1..60 (runs are bounded)"; fi
[ "$REPS" -ge 1 ] || die "--reps must be >= 1"
if [ "$CONNS" -lt 1 ] || [ "$RATE" -lt "$CONNS" ]; then die "need conns >= 1 and rate >= conns"; fi
for m in $MODES; do case "$m" in max|rate) ;; *) die "unknown mode '$m' (max, rate)" ;; esac; done

for need in nginx taskset timeout python3; do
  command -v "$need" >/dev/null || die "missing $need"
done
[ -x /usr/bin/time ] || die "missing /usr/bin/time (apt-get install -y time)"

# --------------------------------------------------------------- loadgen ----
if [ -n "${LOADGEN:-}" ]; then
  BIN="$LOADGEN"
else
  if [ "$BUILD" = 1 ]; then
    (cd "$ROOT" && cargo build --release -q && cargo build --release -q --example wake_cost) \
      || die "cargo build failed"
  fi
  BIN="$ROOT/target/release/loadgen"
fi
[ -x "$BIN" ] || die "no loadgen binary at $BIN (build it, or set LOADGEN)"
BIN_Q="$(printf '%q' "$BIN")"

URL="http://127.0.0.1:${PORT}/"
WD="$(mktemp -d /tmp/loadgen-peer.XXXXXX)"
RAW="$WD/raw.tsv"
NGINX_PID=""

cleanup() {
  if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then echo "work dir kept: $WD" >&2; else rm -rf "$WD"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- target ----
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "127.0.0.1:$PORT is already in use; pick another --port"
fi
mkdir -p "$WD/nginx"
cat > "$WD/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $WD/nginx/nginx.pid;
error_log $WD/nginx/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $WD/nginx/body;
    proxy_temp_path $WD/nginx/proxy;
    fastcgi_temp_path $WD/nginx/fastcgi;
    uwsgi_temp_path $WD/nginx/uwsgi;
    scgi_temp_path $WD/nginx/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:${PORT} backlog=4096;
        location / { return 200 "ok"; }
    }
}
EOF
taskset -c "$SERVER_CPU" nginx -c "$WD/nginx/nginx.conf" -p "$WD/nginx/" >"$WD/nginx/stdout.log" 2>&1 &
NGINX_PID=$!   # taskset execs nginx, so this is the nginx master PID
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WD/nginx/stdout.log" "$WD/nginx/error.log" >&2 2>/dev/null; die "nginx failed to start"; }
  sleep 0.1
done
WORKER_PID="$(pgrep -P "$NGINX_PID" | head -n1 || true)"
[ -n "$WORKER_PID" ] || die "no nginx worker under master $NGINX_PID"
CLK_TCK="$(getconf CLK_TCK)"
srv_ticks() { awk '{print $14+$15}' "/proc/$WORKER_PID/stat"; }

# ----------------------------------------------------------------- tools ----
# tool_cmd TOOL MODE -> prints the command line (nothing when the tool lacks the mode)
tool_cmd() {
  local t="$1" m="$2" per=$((RATE / CONNS))
  case "$t:$m" in
    loadgen:max)    echo "$BIN_Q run $URL -c $CONNS --connections $CONNS -d ${SECS}s --threads 1 --summary kv --quiet${LG_ARGS:+ $LG_ARGS}" ;;
    loadgen:rate)   echo "$BIN_Q run $URL -r $RATE --connections $CONNS -d ${SECS}s --threads 1 --summary kv --quiet${LG_ARGS:+ $LG_ARGS}" ;;
    wrk:max)        echo "wrk -t1 -c$CONNS -d${SECS}s --latency $URL" ;;
    wrk2:rate)      echo "wrk2 -t1 -c$CONNS -d${SECS}s -R$RATE --latency $URL" ;;
    oha:max)        echo "oha -c $CONNS -z ${SECS}s --no-tui --output-format json $URL" ;;
    oha:rate)       echo "oha -c $CONNS -z ${SECS}s -q $RATE --no-tui --output-format json $URL" ;;
    hey:max)        echo "hey -c $CONNS -z ${SECS}s $URL" ;;
    hey:rate)       echo "hey -c $CONNS -q $per -z ${SECS}s $URL" ;;       # -q is per worker
    bombardier:max) echo "bombardier -c $CONNS -d ${SECS}s -l -p r -o j $URL" ;;
    bombardier:rate) echo "bombardier -c $CONNS -d ${SECS}s --rate $RATE -l -p r -o j $URL" ;;
    ab:max)         echo "ab -k -c $CONNS -t $SECS -n 50000000 $URL" ;;    # -n after -t, so time bounds it
    h2load:max)     echo "h2load --h1 -c $CONNS -t 1 -D $SECS $URL" ;;
    h2load:rate)    echo "h2load --h1 -c $CONNS -t 1 -D $SECS --rps $per --log-file=$WD/h2load.log $URL" ;; # --rps is per client
    *) ;;
  esac
  return 0
}

ACTIVE="loadgen"
for t in $TOOLS; do
  [ "$t" = loadgen ] && continue
  if command -v "$t" >/dev/null 2>&1; then ACTIVE="$ACTIVE $t"; else echo "note: $t not on PATH, skipped" >&2; fi
done

printf 'tool\tmode\trep\trc\trequests\trps\terrors\tcpu_s\tuser_s\trss_kb\tp50_us\tp99_us\tlag_p99_us\tsrv_cpu_pct\twall_s\n' > "$RAW"

run_one() {  # TOOL MODE REP
  local t="$1" m="$2" r="$3" cmd out tf s0 s1 rc
  cmd="$(tool_cmd "$t" "$m")"
  [ -n "$cmd" ] || return 0
  out="$WD/$t.$m.$r.out"; tf="$WD/$t.$m.$r.time"
  rm -f "$WD/h2load.log"
  s0="$(srv_ticks)"
  set +e
  /usr/bin/time -v -o "$tf" timeout -k 3 $((SECS + 10)) taskset -c "$TOOL_CPU" bash -c "exec $cmd" >"$out" 2>&1 </dev/null
  rc=$?
  set -e
  s1="$(srv_ticks)"
  [ "$rc" = 0 ] || echo "    exit code $rc: $(tail -n 2 "$out" | tr '\n' ' ')" >&2
  python3 - "$t" "$m" "$r" "$rc" "$out" "$tf" "$WD/h2load.log" "$s0" "$s1" "$CLK_TCK" >> "$RAW" <<'PY'
import json, re, sys
t, m, rep, rc, out, tf, h2log, s0, s1, tck = sys.argv[1:]
txt = open(out, errors="replace").read()
tv = open(tf, errors="replace").read() if tf else ""
def g(rx, s=txt, f=float, d=None):
    mm = re.search(rx, s, re.M)
    return f(mm.group(1)) if mm else d
UNIT = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}
def dur(v, u): return float(v) * UNIT[u]
def pct_line(p):  # wrk "50%   1.23ms" / wrk2 "50.000%  1.23ms"
    mm = re.search(r"^\s*%s(?:\.0+)?%%\s+([\d.]+)(ns|us|µs|ms|s|m)\s*$" % p, txt, re.M)
    return dur(*mm.groups()) if mm else None
req = rps = p50 = p99 = lag = None; err = 0
if t == "loadgen":
    kv = dict(re.findall(r"^(\w+)=([\d.]+)\s*$", txt, re.M))
    if "requests" in kv:  # requests = successes, errors = every other outcome
        req = float(kv["requests"]); rps = float(kv.get("rps", "nan"))
        p50 = float(kv["p50_us"]) if "p50_us" in kv else None
        p99 = float(kv["p99_us"]) if "p99_us" in kv else None
        lag = float(kv["lag_p99_us"]) if "lag_p99_us" in kv else None
        err = float(kv.get("errors", 0))
elif t in ("wrk", "wrk2"):
    done = g(r"(\d+) requests in"); rps = g(r"Requests/sec:\s+([\d.]+)")
    p50, p99 = pct_line("50"), pct_line("99")
    err = (g(r"Non-2xx or 3xx responses:\s+(\d+)", d=0) or 0)
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", txt)
    if se: err += sum(map(int, se.groups()))
    if done is not None:
        bad = g(r"Non-2xx or 3xx responses:\s+(\d+)", d=0) or 0
        req = done - bad
        if rps is not None and done: rps = rps * req / done
elif t == "oha":
    try:
        j = json.loads(txt[txt.index("{"):])
        s = j["summary"]
        codes = j.get("statusCodeDistribution", {})
        req = sum(v for k, v in codes.items() if k.startswith("2"))
        rps = req / s["total"]  # oha's requestsPerSec also counts requests cut off at the deadline
        err = sum(v for k, v in codes.items() if not k.startswith("2")) + sum(
            v for k, v in j.get("errorDistribution", {}).items() if "deadline" not in k)
        lp = j.get("latencyPercentiles", {})
        p50 = lp.get("p50") * 1e6 if lp.get("p50") is not None else None
        p99 = lp.get("p99") * 1e6 if lp.get("p99") is not None else None
    except Exception as e:
        sys.stderr.write("oha parse failed: %s\n" % e)
elif t == "hey":
    req = g(r"\[2\d\d\]\s+(\d+) responses"); rps = g(r"Requests/sec:\s+([\d.]+)")
    p50 = g(r"50% in ([\d.]+) secs"); p99 = g(r"99% in ([\d.]+) secs")
    p50 = p50 * 1e6 if p50 is not None else None; p99 = p99 * 1e6 if p99 is not None else None
    err = sum(int(x) for x in re.findall(r"\[[013-5]\d\d\]\s+(\d+) responses", txt))
    ed = re.search(r"Error distribution:\n((?:\s+\[\d+\].*\n?)+)", txt)
    if ed: err += sum(int(x) for x in re.findall(r"\[(\d+)\]", ed.group(1)))
elif t == "bombardier":
    try:
        j = json.loads(txt[txt.index("{"):])["result"]
        req = j["req2xx"]; rps = req / j["timeTakenSeconds"]
        err = j["req1xx"] + j["req3xx"] + j["req4xx"] + j["req5xx"] + j["others"]
        lp = j.get("latency", {}).get("percentiles", {})
        p50 = float(lp["50"]) if "50" in lp else None; p99 = float(lp["99"]) if "99" in lp else None
    except Exception as e:
        sys.stderr.write("bombardier parse failed: %s\n" % e)
elif t == "ab":
    done = g(r"Complete requests:\s+(\d+)"); rps = g(r"Requests per second:\s+([\d.]+)")
    p50 = g(r"^\s*50%\s+(\d+)"); p99 = g(r"^\s*99%\s+(\d+)")
    p50 = p50 * 1e3 if p50 is not None else None; p99 = p99 * 1e3 if p99 is not None else None
    failed = g(r"Failed requests:\s+(\d+)", d=0) or 0; non2 = g(r"Non-2xx responses:\s+(\d+)", d=0) or 0
    err = failed + non2
    if done is not None:
        req = max(0, done - failed - non2)
        if rps is not None and done: rps = rps * req / done
elif t == "h2load":
    req = g(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded")
    rps = g(r"finished in [\d.]+\w+, ([\d.]+) req/s")
    fails = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", txt)
    err = sum(map(int, fails.groups())) if fails else 0
    try:
        lat = sorted(int(l.split("\t")[2]) for l in open(h2log) if l.count("\t") >= 2)
        if lat:
            p50 = float(lat[min(len(lat) - 1, int(0.50 * len(lat)))])
            p99 = float(lat[min(len(lat) - 1, int(0.99 * len(lat)))])
    except OSError:
        pass
u = g(r"User time \(seconds\): ([\d.]+)", tv, d=0.0); sy = g(r"System time \(seconds\): ([\d.]+)", tv, d=0.0)
rss = g(r"Maximum resident set size \(kbytes\): (\d+)", tv, int)
mm = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", tv)
wall = (int(mm.group(1) or 0) * 3600 + int(mm.group(2)) * 60 + float(mm.group(3))) if mm else None
srv = (int(s1) - int(s0)) / float(tck) / wall * 100 if wall else None
f = lambda v, fmt="%.1f": "" if v is None or v != v else fmt % v
print("\t".join([t, m, rep, rc, f(req, "%d"), f(rps), f(err, "%d"), f(u + sy, "%.3f"), f(u, "%.3f"), f(rss, "%d"),
                 f(p50), f(p99), f(lag), f(srv), f(wall, "%.2f")]))
PY
  sleep 1
}

busy_pct() {  # whole-machine CPU busy % over 1 s (the idle target adds ~0)
  local -a a b
  read -r -a a < /proc/stat; sleep 1; read -r -a b < /proc/stat
  local tot=0 i
  for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
  echo $(( tot > 0 ? 100 - 100 * (b[4] - a[4] + b[5] - a[5]) / tot : 0 ))
}
BUSY="$(busy_pct)"
if [ "$BUSY" -gt 10 ]; then
  echo "peer.sh: WARNING machine is ${BUSY}% busy before the runs; numbers will be noisy" >&2
fi
echo "peer.sh: target $URL (nginx pid $NGINX_PID on cpu $SERVER_CPU), tools on cpu $TOOL_CPU," \
     "conns=$CONNS secs=$SECS rate=$RATE reps=$REPS tools: $ACTIVE" >&2
for m in $MODES; do
  for r in $(seq 1 "$REPS"); do
    for t in $ACTIVE; do
      [ -n "$(tool_cmd "$t" "$m")" ] || continue
      echo "  run $m rep $r: $t" >&2
      run_one "$t" "$m" "$r"
    done
  done
done

# ------------------------------------------------------------------ table ----
for t in $ACTIVE; do for m in $MODES; do
  c="$(tool_cmd "$t" "$m")"
  if [ -n "$c" ]; then printf '%s\t%s\t%s\n' "$t" "$m" "$c"; fi
done; done > "$WD/cmds.tsv"
python3 - "$RAW" "$RATE" "$ACTIVE" "$MODES" "$WD/cmds.tsv" "$CONNS" "$SECS" <<'PY'
import csv, statistics as st, sys
raw, rate, active, modes, cmds, conns, secs = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5], sys.argv[6], sys.argv[7]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
def num(x):
    try: return float(x)
    except (TypeError, ValueError): return None
def med(vals):
    v = [x for x in vals if x is not None]
    return st.median(v) if v else None
def fmt(v, p=0):
    return "-" if v is None else ("%.*f" % (p, v))
def lat(v):
    if v is None: return "-"
    return "%.0fus" % v if v < 1000 else "%.2fms" % (v / 1e3)
def per_req(r, key):
    n, c = num(r["requests"]), num(r[key])
    return c * 1e6 / n if n and c is not None else None
def errpct(r):
    n, e = num(r["requests"]), num(r["errors"])
    return e * 100 / (n + e) if n is not None and e is not None and n + e > 0 else None
def table(hdr, out):
    w = [max(len(r[i]) for r in [hdr] + out) for i in range(len(hdr))]
    for r in [hdr] + out:
        print("  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
nreps = max([1] + [int(r["rep"]) for r in rows])
for m in modes:
    out = []
    for t in active:
        rr = [r for r in rows if r["tool"] == t and r["mode"] == m]
        if not rr:
            continue
        rps = [num(r["rps"]) for r in rr]
        rv = [x for x in rps if x is not None]
        rng = "%s (%s-%s)" % (fmt(med(rps)), fmt(min(rv)), fmt(max(rv))) if rv else "-"
        bad = sum(1 for r in rr if r["rc"] != "0")
        rss = med([num(r["rss_kb"]) for r in rr])
        common = [fmt(med([per_req(r, "cpu_s") for r in rr]), 1)]
        if m == "max":
            cells = [t, rng, fmt(med([errpct(r) for r in rr]), 2)] + common + [
                fmt(med([per_req(r, "user_s") for r in rr]), 1),
                fmt(rss / 1024 if rss is not None else None, 1), fmt(med([num(r["srv_cpu_pct"]) for r in rr])), str(bad)]
        else:
            cells = [t, rng, fmt(med([errpct(r) for r in rr]), 2)] + common + [
                lat(med([num(r["p50_us"]) for r in rr])), lat(med([num(r["p99_us"]) for r in rr])),
                lat(med([num(r["lag_p99_us"]) for r in rr])),
                fmt(rss / 1024 if rss is not None else None, 1), fmt(med([num(r["srv_cpu_pct"]) for r in rr])), str(bad)]
        out.append(cells)
    if not out:
        continue
    if m == "max":
        print("max: closed loop, %s connections, %ss" % (conns, secs))
        table(["tool", "ok req/s (min-max)", "err%", "us/req", "usr us/req", "RSS MB", "srv%", "rc!=0"], out)
    else:
        print("rate: fixed %.0f req/s, %s connections, %ss" % (rate, conns, secs))
        table(["tool", "ok req/s (min-max)", "err%", "us/req", "p50", "p99", "lag p99", "RSS MB", "srv%", "rc!=0"], out)
    print()
print("medians of %d rep(s); ok req/s = successful requests/s; err%% = non-successes / all requests;\n"
      "us/req = the tool's user+sys CPU / successful requests (usr = user part only); RSS = max RSS of the tool;\n"
      "srv%% = nginx worker CPU; lag p99 = loadgen's send lag (- when not printed); rc!=0 = runs with a non-zero exit" % nreps)
print("\ncommands:")
for line in open(cmds):
    t, m, c = line.rstrip("\n").split("\t", 2)
    print("  %-8s %-4s %s" % (t, m, c))
PY
if [ -n "$RAW_OUT" ]; then cp "$RAW" "$RAW_OUT"; echo "raw per-run results: $RAW_OUT" >&2; fi

# The floor under CPU per request at a fixed rate: what one sleep and wake-up costs on this
# machine's tool CPU, sleeping once per request interval (2 s). While loads go out one per
# pacing tick (every interval longer than --pacing-quantum), no tool that sends on time
# pays less per request than this.
WAKE="$(dirname "$BIN")/examples/wake_cost"
case " $MODES " in *" rate "*)
  if [ -x "$WAKE" ]; then
    echo
    taskset -c "$TOOL_CPU" "$WAKE" $((1000000 / RATE)) $((RATE * 2)) || true
  else
    echo "(no $WAKE: build it with cargo build --release --example wake_cost for the wake-up floor)"
  fi ;;
esac
