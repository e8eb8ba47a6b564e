#!/usr/bin/env bash
# Waits for the loadgen Indexed Job to finish, fetches each shard's JSON summary, and merges
# them into one exact summary with `loadgen merge`.
#
# Usage: deploy/kubernetes/collect-and-merge.sh [options] [-- MERGE-OPTION...]
#   -n, --namespace NS   the Job's namespace [kubectl's current one]
#   -j, --job NAME       the Job [loadgen]
#   -f, --from SOURCE    logs: each pod's stdout (RESULTS=logs, --json -);
#                        volume: /results/<Job uid>/shard-I.json via the reader pod
#                        [the RESULTS value of ConfigMap loadgen-args]
#   -t, --timeout DUR    how long to wait for the Job: 90s, 30m, 2h [30m]
#   -o, --out DIR        where shard-I.json, merged.json and merged.html go
#                        [./results-JOB-<first 8 characters of the Job uid>]
#   -- MERGE-OPTION...   passed on to `loadgen merge`, e.g. -- --threshold 'p99<50ms'
#                        (judge thresholds on the merged run, not in each shard)
#
# Needs kubectl, and loadgen to merge: on the PATH, or LOADGEN=/path/to/loadgen, or else
# Docker and LOADGEN_IMAGE=REGISTRY/loadgen:TAG (the image the Job ran).
# Exit status: that of `loadgen merge` (0, or 2 if a --threshold was violated); 1 if the
# Job failed or a result is missing; 64 on a usage error.
set -euo pipefail

job=loadgen namespace="" from="" timeout=30m out=""
reader=loadgen-results-reader configmap=loadgen-args

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit "${1:-64}"; }
merge_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n | --namespace) namespace=${2:?}; shift 2 ;;
    -j | --job) job=${2:?}; shift 2 ;;
    -f | --from) from=${2:?}; shift 2 ;;
    -t | --timeout) timeout=${2:?}; shift 2 ;;
    -o | --out) out=${2:?}; shift 2 ;;
    -h | --help) usage 0 ;;
    --) shift; merge_args=("$@"); break ;;
    *) echo "collect-and-merge.sh: unknown argument $1" >&2; usage 64 ;;
  esac
done

k() { kubectl ${namespace:+--namespace "$namespace"} "$@"; }
say() { echo "collect-and-merge: $*" >&2; }
die() { say "$*"; exit 1; }

# 1. Wait until the Job is Complete, or stop early when it has Failed (with backoffLimit 0,
#    one failed shard fails the Job, and waiting for "complete" would last the full timeout).
timeout_s=$(echo "$timeout" | awk '/^[0-9]+s?$/{print $0+0; exit} /^[0-9]+m$/{print $0*60; exit} /^[0-9]+h$/{print $0*3600; exit} {print -1}')
[ "$timeout_s" -ge 0 ] || die "--timeout: give seconds, or a number with s, m or h"
uid=$(k get job "$job" -o jsonpath='{.metadata.uid}') || die "no Job $job"
n=$(k get job "$job" -o jsonpath='{.spec.completions}')
say "job $job (uid $uid): waiting up to $timeout for $n shards"
deadline=$(( $(date +%s) + timeout_s ))
while :; do
  if k wait --for=condition=complete "job/$job" --timeout=10s >/dev/null 2>&1; then
    break
  fi
  failed=$(k get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}' || true)
  if [ "$failed" = "True" ]; then
    k get pods -l "batch.kubernetes.io/controller-uid=$uid" \
      -L batch.kubernetes.io/job-completion-index >&2 || true
    die "job $job failed: $(k get job "$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}')
  (kubectl logs <pod> shows why; a shard refuses to start if --start-at is already past)"
  fi
  [ "$(date +%s)" -lt "$deadline" ] || die "job $job not complete after $timeout"
done

# 2. Fetch shard I from the pod with completion index I (exactly one succeeded per index).
if [ -z "$from" ]; then
  from=$(k get configmap "$configmap" -o jsonpath='{.data.RESULTS}' 2>/dev/null || true)
  from=${from:-logs}
fi
case "$from" in logs | volume) ;; *) die "--from must be logs or volume, not '$from'" ;; esac
out=${out:-results-$job-${uid:0:8}}
mkdir -p "$out"

# With --json - the pod's stdout is the pretty-printed summary: a line "{", lines indented
# by spaces, a line "}". kubectl logs mixes in stderr (notes "loadgen: ...", --progress
# lines), none of which starts with a space, so anything else inside the object is dropped.
extract_json() { awk 'on && /^\}$/ {print; exit} on && /^ / {print} !on && /^\{$/ {on=1; print}'; }

files=()
for ((i = 0; i < n; i++)); do
  file=$out/shard-$i.json
  case "$from" in
    logs)
      pod=$(k get pods \
        -l "batch.kubernetes.io/controller-uid=$uid,batch.kubernetes.io/job-completion-index=$i" \
        --field-selector=status.phase=Succeeded -o jsonpath='{.items[*].metadata.name}')
      pod=${pod%% *}
      [ -n "$pod" ] || die "no succeeded pod with job-completion-index $i"
      # By pod name, not -l: with a selector kubectl logs keeps only the last 10 lines.
      k logs "pod/$pod" -c loadgen | extract_json >"$file"
      ;;
    volume)
      k exec "$reader" -- cat "/results/$uid/shard-$i.json" >"$file" ||
        die "cannot read /results/$uid/shard-$i.json in pod $reader (kubectl apply -f results.yaml?)"
      ;;
  esac
  [ -s "$file" ] || die "shard $i: no JSON summary found ($from)"
  if command -v python3 >/dev/null; then
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$file" 2>/dev/null ||
      die "shard $i: $file is not valid JSON"
  fi
  say "shard $i/$n: $file ($(wc -c <"$file") bytes)"
  files+=("$file")
done

# 3. Merge: counts add, HDR histograms add, one-second buckets align on the common start.
rc=0
if [ -n "${LOADGEN:-}" ] || command -v loadgen >/dev/null; then
  "${LOADGEN:-loadgen}" merge "${files[@]}" --json "$out/merged.json" --html "$out/merged.html" \
    ${merge_args[@]+"${merge_args[@]}"} || rc=$?
elif [ -n "${LOADGEN_IMAGE:-}" ] && command -v docker >/dev/null; then
  docker run --rm --user "$(id -u):$(id -g)" -v "$(cd "$out" && pwd):/results" -w /results \
    "$LOADGEN_IMAGE" merge "${files[@]#"$out"/}" --json merged.json --html merged.html \
    ${merge_args[@]+"${merge_args[@]}"} || rc=$?
else
  die "shard files are in $out; to merge, put loadgen on the PATH (or set LOADGEN or LOADGEN_IMAGE) and run:
  loadgen merge $out/shard-*.json --json $out/merged.json --html $out/merged.html"
fi
case "$rc" in
  0) say "merged $n shards: $out/merged.json $out/merged.html" ;;
  2) say "merged $n shards: $out/merged.json $out/merged.html; a --threshold was violated" ;;
  *) say "loadgen merge failed (exit status $rc)" ;;
esac
exit "$rc"
