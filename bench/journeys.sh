#!/usr/bin/env bash
# bench/journeys.sh — the same 2-step journey (POST /login → JSON token → GET /api with
# `Authorization: Bearer TOKEN` → a JSON check) run by loadgen and, where installed, by
# Locust (PyPI, FastHttpUser) and Artillery (npm), against one local nginx this script
# starts (127.0.0.1 only, one worker, static JSON answers; without nginx, `loadgen serve
# http` and its demo API). The target is pinned to one CPU, each tool to the other; runs
# are interleaved and the table shows medians.
#
# Usage: bench/journeys.sh [--rate N] [--secs N] [--reps N] [--port N] [--no-build]
#   --rate N     journeys per second asked of every tool (default 2000)
#   --secs N     seconds per run (default 8)
#   --reps N     repetitions (default 3)
#
# Rows:
#   loadgen        journeys at --rate (open model): achieved journeys/s, CPU µs per
#                  journey, max RSS, p99 of each step (from the intended start of the step)
#   loadgen 1 req  one GET at 2 × --rate (the same request rate): CPU µs per request, for
#                  the ratio journey ÷ request
#   locust         --rate/20 users at constant_throughput(20) (Locust has no open model)
#   artillery      arrivalRate --rate (each arrival a new virtual user running the flow)
# Then loadgen's memory with 10,000 journeys in flight: think 5 s between the steps at
# 2,000 journeys/s.
#
# CPU is user + system of the tool's process (/usr/bin/time), start-up included; Locust
# and Artillery start slower, which a longer --secs dilutes.
# Needs: taskset, timeout, python3, /usr/bin/time; nginx (apt-get install -y nginx-light)
# for the nginx target. Peers: pip install locust; npm install -g --ignore-scripts artillery@2.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RATE=2000 SECS=8 REPS=3 PORT=18091 BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "journeys.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bench_init journeys "$BUILD"
TOOL_CPU=${TOOL_CPU:-0} SERVER_CPU=${SERVER_CPU:-1}

# ---------------------------------------------------------------- target ----
NGINX_PID=
bench_cleanup_more() { [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null; return 0; }
if command -v nginx >/dev/null 2>&1; then
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
    default_type application/json;
    server {
        listen 127.0.0.1:${PORT} backlog=4096;
        location = /login { return 200 '{"token":"abc123","user":"u"}'; }
        location = /api {
            if (\$http_authorization != "Bearer abc123") { return 401 '{"error":"unauthorized"}'; }
            return 200 '{"ok":true,"count":3,"items":[1,2,3]}';
        }
        location / { return 200 "ok"; }
    }
}
EOF
  taskset -c "$SERVER_CPU" nginx -c "$WD/nginx/nginx.conf" -p "$WD/nginx/" >"$WD/nginx/out.log" 2>&1 &
  NGINX_PID=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
  BASE="http://127.0.0.1:$PORT" LOGIN=/login API=/api TARGET="nginx (static JSON)"
else
  start_server http http
  BASE="http://$ADDR" LOGIN=/api/login API=/api/items TARGET="loadgen serve http (demo API)"
fi

# ---------------------------------------------------------------- files -----
cat > "$WD/journey.yaml" <<EOF
version: 1
defaults: {base: "$BASE"}
scenarios:
  - name: journey
    steps:
      - name: login
        post: {url: $LOGIN, json: {user: "u{{index}}"}}
        capture: {token: {jsonpath: \$.token}}
      - name: api
        get: {url: $API, headers: {Authorization: "Bearer {{token}}"}}
        check: {jsonpath: {"\$.count": 3}}
EOF
sed 's/      - name: api/      - think: 5s\n      - name: api/' "$WD/journey.yaml" > "$WD/thinking.yaml"
USERS=$(( RATE / 20 )); [ "$USERS" -ge 1 ] || USERS=1
cat > "$WD/locustfile.py" <<EOF
from locust import FastHttpUser, task, constant_throughput

class Journey(FastHttpUser):
    wait_time = constant_throughput(20)

    @task
    def journey(self):
        r = self.client.post("$LOGIN", json={"user": "u"}, name="login")
        token = r.json()["token"]
        with self.client.get("$API", headers={"Authorization": "Bearer " + token},
                             name="api", catch_response=True) as a:
            if a.json().get("count") != 3:
                a.failure("not 3")
EOF
cat > "$WD/artillery.yml" <<EOF
config:
  target: "$BASE"
  phases:
    - duration: $SECS
      arrivalRate: $RATE
  plugins:
    metrics-by-endpoint: {}
scenarios:
  - name: journey
    flow:
      - post: {url: "$LOGIN", name: login, json: {user: "u"}, capture: [{json: "\$.token", as: token}]}
      - get: {url: "$API", name: api, headers: {Authorization: "Bearer {{ token }}"}, expect: [{statusCode: 200}]}
EOF

# ------------------------------------------------------------------ runs ----
timed() { local name=$1; shift; /usr/bin/time -v -o "$WD/$name.time" timeout -k 3 $((SECS * 6 + 60)) taskset -c "$TOOL_CPU" "$@"; }
tools=(loadgen single)
command -v locust >/dev/null 2>&1 && tools+=(locust) || echo "journeys.sh: locust not installed (pip install locust): skipped"
command -v artillery >/dev/null 2>&1 && tools+=(artillery) || echo "journeys.sh: artillery not installed (npm install -g --ignore-scripts artillery@2): skipped"
echo "journeys.sh: target $TARGET at $BASE on cpu $SERVER_CPU, tools on cpu $TOOL_CPU; $RATE journeys/s for $SECS s, $REPS reps"
rows="$WD/rows.tsv"; : > "$rows"
for rep in $(seq "$REPS"); do
  for t in "${tools[@]}"; do
    n="$t.$rep"
    case $t in
      loadgen)
        timed "$n" "$BIN" run "$WD/journey.yaml" -r "$RATE" -d "${SECS}s" --threads 1 --quiet \
          --summary none --json "$WD/$n.json" >/dev/null 2>"$WD/$n.err" || true
        python3 - "$WD/$n.json" "$(cpu_s "$n")" "$(rss_mb "$n")" "$t" >> "$rows" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); cpu = float(sys.argv[2]); ok = s["counts"]["success"]
steps = {x["step"]: x["response_ms"]["p99"] for x in s["per_step"]}
print("\t".join(map(str, [sys.argv[4], ok / s["elapsed_s"], cpu * 1e6 / max(ok, 1), sys.argv[3], steps.get("login"), steps.get("api"), s["counts"]["scheduled"] - ok])))
PY
        ;;
      single)
        timed "$n" "$BIN" run "$BASE/" -r $((RATE * 2)) -d "${SECS}s" --threads 1 --quiet \
          --summary none --json "$WD/$n.json" >/dev/null 2>"$WD/$n.err" || true
        python3 - "$WD/$n.json" "$(cpu_s "$n")" "$(rss_mb "$n")" >> "$rows" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); cpu = float(sys.argv[2]); ok = s["counts"]["success"]
print("\t".join(map(str, ["loadgen 1 req", ok / s["elapsed_s"], cpu * 1e6 / max(ok, 1), sys.argv[3], s["latency_ms"]["p99"], "", s["counts"]["scheduled"] - ok])))
PY
        ;;
      locust)
        (cd "$WD" && timed "$n" locust -f locustfile.py --headless -u "$USERS" -r "$USERS" -t "${SECS}s" \
          --host "$BASE" --csv "$WD/$n" --only-summary >/dev/null 2>"$WD/$n.err") || true
        python3 - "$WD/${n}_stats.csv" "$(cpu_s "$n")" "$(rss_mb "$n")" "$SECS" >> "$rows" <<'PY'
import csv, sys
rows = {r["Name"]: r for r in csv.DictReader(open(sys.argv[1]))}
cpu = float(sys.argv[2]); done = int(rows["api"]["Request Count"]); bad = int(rows["Aggregated"]["Failure Count"])
print("\t".join(map(str, ["locust", done / float(sys.argv[4]), cpu * 1e6 / max(done, 1), sys.argv[3], rows["login"]["99%"], rows["api"]["99%"], bad])))
PY
        ;;
      artillery)
        (cd "$WD" && timed "$n" artillery run --quiet --output "$WD/$n.json" artillery.yml >/dev/null 2>"$WD/$n.err") || true
        python3 - "$WD/$n.json" "$(cpu_s "$n")" "$(rss_mb "$n")" "$SECS" >> "$rows" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["aggregate"]; c = a["counters"]; cpu = float(sys.argv[2])
done = c.get("vusers.completed", 0); s = a["summaries"]
p99 = lambda name: next((v["p99"] for k, v in s.items() if k.endswith(f"({name})") and "response_time" in k), "")
print("\t".join(map(str, ["artillery", done / float(sys.argv[4]), cpu * 1e6 / max(done, 1), sys.argv[3], p99("login"), p99("api"), c.get("vusers.failed", 0)])))
PY
        ;;
    esac
  done
done

python3 - "$rows" "$RATE" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
tools = []
for r in rows:
    if r[0] not in tools:
        tools.append(r[0])
def med(vals):
    vals = [float(v) for v in vals if v not in ("", "None")]
    return statistics.median(vals) if vals else None
f = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
print(f"\n{'tool':<14}{'journeys/s':>12}{'CPU µs/journey':>16}{'RSS MB':>8}{'p99 login ms':>14}{'p99 api ms':>12}{'failed':>8}")
med_cpu = {}
for t in tools:
    rs = [r for r in rows if r[0] == t]
    m = [med([r[i] for r in rs]) for i in range(1, 7)]
    med_cpu[t] = m[1]
    unit = "CPU µs/journey" if t != "loadgen 1 req" else ""
    print(f"{t:<14}{f(m[0]):>12}{f(m[1]):>16}{f(m[2]):>8}{f(m[3], 2):>14}{f(m[4], 2):>12}{f(m[5], 0):>8}")
print("  (loadgen 1 req: one GET at twice the rate; its CPU column is µs per request, its p99 the request's)")
if med_cpu.get("loadgen") and med_cpu.get("loadgen 1 req"):
    print(f"\nloadgen: CPU per journey ÷ CPU per single request at the same request rate = "
          f"{med_cpu['loadgen'] / med_cpu['loadgen 1 req']:.2f}×")
PY

# ------------------------------------------------------------- memory ------
/usr/bin/time -v -o "$WD/mem.time" timeout -k 3 60 taskset -c "$TOOL_CPU" "$BIN" run "$WD/thinking.yaml" \
  -r 2000 -d 8s --threads 1 --quiet --summary none --json "$WD/mem.json" >/dev/null 2>"$WD/mem.err" || true
python3 - "$WD/mem.json" "$(rss_mb mem)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"\nloadgen, think 5 s between the steps at 2,000 journeys/s (about 10,000 in flight): "
      f"{s['counts']['success']} of {s['counts']['scheduled']} journeys succeeded, "
      f"peak in flight {s['saturation']['peak_in_flight']}, max RSS {sys.argv[2]} MB")
PY
