#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/kubernetes/ (*.yaml), offline:
#
#   1. every resource against the Kubernetes JSON schemas of pinned Kubernetes versions, in
#      strict mode (unknown fields are errors), with kubernetes-validate from PyPI, which
#      bundles the schemas (nothing is downloaded when it runs);
#   2. what those schemas leave out: the allowed values of the enum fields these manifests
#      use (the schemas type completionMode, restartPolicy, ... as plain strings, so
#      `completionMode: Indexd` passes them), and that every configMapKeyRef names a key of
#      a ConfigMap defined here;
#   3. loadgen's own rules for its Indexed Job: completionMode Indexed, restartPolicy
#      Never, backoffLimit 0, and completions = parallelism = LOADGEN_SHARDS;
#   4. a self-check: broken copies of job.yaml, written to a temporary directory, must each
#      be rejected for the reason planted, so this script cannot pass vacuously;
#   5. monitoring/: `promtool check rules` on the recording rules (rules.yml), and the
#      PodMonitor (a CRD the schemas lack) checked by hand: its selector matches the Job's
#      pod labels and its port is a named container port of the Job.
#
# Usage: deploy/kubernetes/validate.sh [FILE...]   (default: deploy/kubernetes/*.yaml)
# Prints one line per file; exits 0 if all pass, 1 on a validation error, 2 on a setup error.
#
# Installs kubernetes-validate (pinned) into a virtualenv on first use: only that step
# needs the network (PyPI). Environment:
#   KUBE_VERSIONS      Kubernetes versions to validate against [1.28.0 1.37.0]
#                      (1.28 is the oldest the Job supports: pod labels job-completion-index
#                      and controller-uid; 1.37 the newest schema kubernetes-validate 1.37.0 has)
#   LOADGEN_TOOLS_DIR  where the virtualenv goes [${XDG_CACHE_HOME:-~/.cache}/loadgen-tools]
set -euo pipefail

KV_VERSION=1.37.0
KUBE_VERSIONS=${KUBE_VERSIONS:-"1.28.0 1.37.0"}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${LOADGEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/loadgen-tools}/kubernetes-validate-$KV_VERSION
py=$venv/bin/python

installed() {
  [ -x "$py" ] && "$py" - "$KV_VERSION" 2>/dev/null <<'EOF'
import sys
from kubernetes_validate.version import __version__
sys.exit(__version__ != sys.argv[1])
EOF
}

if ! installed; then
  echo "validate.sh: installing kubernetes-validate==$KV_VERSION from PyPI into $venv" >&2
  command -v python3 >/dev/null || { echo "validate.sh: python3 is needed" >&2; exit 2; }
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's own python3 has no venv module without the python3-venv package.
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y -q python3-venv >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q python3-venv >&2; }
      python3 -m venv "$venv"
    else
      echo "validate.sh: python3 -m venv failed (install python3-venv)" >&2
      exit 2
    fi
  fi
  "$py" -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION" >&2
  installed || { echo "validate.sh: kubernetes-validate $KV_VERSION did not install" >&2; exit 2; }
fi

if [ $# -eq 0 ]; then
  shopt -s nullglob
  set -- "$here"/*.yaml "$here"/*.yml
  shopt -u nullglob
  [ $# -gt 0 ] || { echo "validate.sh: no manifests in $here" >&2; exit 2; }
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/loadgen-validate.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# shellcheck disable=SC2086 # KUBE_VERSIONS is a list
"$py" - "$here/job.yaml" "$scratch" "$KV_VERSION" $KUBE_VERSIONS -- "$@" <<'PYTHON'
import copy
import os
import sys

import yaml
import kubernetes_validate
from kubernetes_validate import utils as kv

job_template, scratch, kv_version, *rest = sys.argv[1:]
sep = rest.index("--")
versions, files = rest[:sep], rest[sep + 1:]

# Enum fields the schemas type as plain strings (values from the Kubernetes API reference).
# Keyed by field name, or by (parent, field) where the name alone is ambiguous.
ENUMS = {
    "completionMode": {"NonIndexed", "Indexed"},
    "restartPolicy": {"Always", "OnFailure", "Never"},
    "imagePullPolicy": {"Always", "IfNotPresent", "Never"},
    "whenUnsatisfiable": {"DoNotSchedule", "ScheduleAnyway"},
    "accessModes": {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"},
    "protocol": {"TCP", "UDP", "SCTP"},
    "operator": {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Equal"},
    "effect": {"NoSchedule", "PreferNoSchedule", "NoExecute"},
    "dnsPolicy": {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"},
    "terminationMessagePolicy": {"File", "FallbackToLogsOnError"},
    "podManagementPolicy": {"OrderedReady", "Parallel"},
    "volumeMode": {"Filesystem", "Block"},
    ("seccompProfile", "type"): {"RuntimeDefault", "Unconfined", "Localhost"},
    ("strategy", "type"): {"RollingUpdate", "Recreate"},
    "podReplacementPolicy": {"TerminatingOrFailed", "Failed"},
}
SERVICE_TYPES = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def enum_errors(doc):
    errors = []

    def walk(node, path, parent):
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{path}.{key}"
                allowed = ENUMS.get((parent, key), ENUMS.get(key))
                if here == "spec.type" and doc.get("kind") == "Service":
                    allowed = SERVICE_TYPES
                values = value if isinstance(value, list) else [value]
                if allowed and all(isinstance(v, str) for v in values):
                    for v in values:
                        if v not in allowed:
                            errors.append(f"{here}: {v!r} is not one of {', '.join(sorted(allowed))}")
                walk(value, here, key)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]", parent)

    # Only spec: a ConfigMap's data keys are free-form.
    walk(doc.get("spec"), "spec", "spec")
    return errors


def pod_templates(doc):
    """(path, pod spec) of a Pod or of a workload's pod template."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        yield "spec", spec
    elif doc.get("kind") == "CronJob":
        yield "spec.jobTemplate.spec.template.spec", (
            ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    elif isinstance(spec.get("template"), dict):
        yield "spec.template.spec", spec["template"].get("spec") or {}


def ref_errors(doc, configmaps):
    errors = []
    for path, pod in pod_templates(doc):
        containers = [("containers", c) for c in pod.get("containers") or []]
        containers += [("initContainers", c) for c in pod.get("initContainers") or []]
        for field, c in containers:
            for e in c.get("env") or []:
                ref = ((e.get("valueFrom") or {}).get("configMapKeyRef")) or None
                if ref and not ref.get("optional"):
                    keys = configmaps.get(ref.get("name"))
                    where = f"{path}.{field}[{c.get('name')}].env[{e.get('name')}]"
                    if keys is None:
                        errors.append(f"{where}: no ConfigMap {ref.get('name')!r} in these manifests")
                    elif ref.get("key") not in keys:
                        errors.append(f"{where}: ConfigMap {ref.get('name')!r} has no key {ref.get('key')!r}")
        for v in pod.get("volumes") or []:
            cm = v.get("configMap")
            if cm and not cm.get("optional"):
                keys = configmaps.get(cm.get("name"))
                where = f"{path}.volumes[{v.get('name')}]"
                if keys is None:
                    errors.append(f"{where}: no ConfigMap {cm.get('name')!r} in these manifests")
                else:
                    for item in cm.get("items") or []:
                        if item.get("key") not in keys:
                            errors.append(f"{where}: ConfigMap {cm.get('name')!r} has no key {item.get('key')!r}")
    return errors


def loadgen_job_errors(doc):
    """loadgen's rules for an Indexed Job of shards; returns (errors, note)."""
    if doc.get("kind") != "Job":
        return [], None
    spec = doc.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    errors = []
    if spec.get("completionMode") != "Indexed":
        errors.append(f"spec.completionMode: must be Indexed (shard I = JOB_COMPLETION_INDEX), not {spec.get('completionMode')!r}")
    if spec.get("backoffLimit") != 0:
        errors.append(f"spec.backoffLimit: must be 0 (a retried shard would send its share late), not {spec.get('backoffLimit')!r}")
    if pod.get("restartPolicy") != "Never":
        errors.append(f"spec.template.spec.restartPolicy: must be Never, not {pod.get('restartPolicy')!r}")
    n, p = spec.get("completions"), spec.get("parallelism")
    if n != p:
        errors.append(f"spec.parallelism: must equal spec.completions ({n!r}) so that all shards run at once, not {p!r}")
    shards = [
        (c.get("name"), e.get("value"))
        for c in pod.get("containers") or []
        for e in c.get("env") or []
        if e.get("name") == "LOADGEN_SHARDS"
    ]
    if not shards:
        errors.append("spec.template.spec.containers: no container sets LOADGEN_SHARDS (the shard count N)")
    for cname, value in shards:
        if str(value) != str(n):
            errors.append(f"spec.template.spec.containers[{cname}].env[LOADGEN_SHARDS]: must equal spec.completions ({n!r}), not {value!r}")
    return errors, f"Indexed Job {doc['metadata'].get('name')}: N={n}"


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check(path, configmaps):
    """Returns (errors, resource names, notes) for one file."""
    try:
        docs = load(path)
    except (OSError, yaml.YAMLError) as e:
        return [f"cannot read YAML: {' '.join(str(e).split())}"], [], []
    if not docs:
        return ["no Kubernetes resources in the file"], [], []
    errors, names, notes = [], [], []
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            errors.append("a document without apiVersion and kind")
            continue
        name = name_of(doc)
        names.append(name)
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kv.ValidationError as e:
                where = ".".join(str(p) for p in e.path) or "(root)"
                errors.append(f"{name}: Kubernetes {version} schema: {where}: {' '.join(e.message.split())[:300]}")
            except kv.SchemaNotFoundError as e:
                errors.append(f"{name}: {e.message}")
            except kv.VersionNotSupportedError as e:
                print(f"validate.sh: kubernetes-validate {kv_version} has no schemas for Kubernetes {version}", file=sys.stderr)
                sys.exit(2)
        errors += [f"{name}: {m}" for m in enum_errors(doc) + ref_errors(doc, configmaps)]
        job_errors, note = loadgen_job_errors(doc)
        errors += [f"{name}: {m}" for m in job_errors]
        if note:
            notes.append(note)
    return errors, names, notes


def configmaps_in(paths):
    found = {}
    for path in paths:
        try:
            for d in load(path):
                if isinstance(d, dict) and d.get("kind") == "ConfigMap":
                    meta = d.get("metadata") or {}
                    found[meta.get("name")] = set((d.get("data") or {}).keys()) | set((d.get("binaryData") or {}).keys())
        except (OSError, yaml.YAMLError):
            pass  # reported by check()
    return found


status = 0
passed = failed = 0
configmaps = configmaps_in(files)
for path in files:
    errors, names, notes = check(path, configmaps)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(job_template))))
    label = os.path.relpath(os.path.abspath(path), repo) if os.path.abspath(path).startswith(repo + os.sep) else path
    what = f"{' '.join(names)} (Kubernetes {', '.join(versions)}, strict{'; ' + '; '.join(notes) if notes else ''})"
    if errors:
        status = 1
        failed += 1
        print(f"FAIL {label}: {len(errors)} error(s) in {' '.join(names) or 'the file'}")
        for e in errors:
            print(f"       {e}")
    else:
        passed += 1
        print(f"ok   {label}: {what}")

# Self-check: each broken copy of job.yaml must fail, and for the planted reason.
def job_of(docs):
    jobs = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Job"]
    if len(jobs) != 1:
        raise SystemExit(f"FAIL self-check: {job_template} should hold exactly one Job")
    return jobs[0]


def first_configmap_key_ref(job):
    for c in job["spec"]["template"]["spec"]["containers"]:
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref:
                return ref
    raise SystemExit(f"FAIL self-check: the Job in {job_template} reads no ConfigMap key")


def set_shards(job, value):
    for c in job["spec"]["template"]["spec"]["containers"]:
        for e in c.get("env") or []:
            if e.get("name") == "LOADGEN_SHARDS":
                e["value"] = value


BREAKS = [
    ("completionMode-Indexd", "spec.completionMode", lambda j: j["spec"].__setitem__("completionMode", "Indexd")),
    ("parallelism-four", "parallelism", lambda j: j["spec"].__setitem__("parallelism", "four")),
    ("unknown-field", "completionMod", lambda j: j["spec"].__setitem__("completionMod", "Indexed")),
    ("shards-mismatch", "LOADGEN_SHARDS", lambda j: set_shards(j, "3")),
    ("backoffLimit-1", "spec.backoffLimit", lambda j: j["spec"].__setitem__("backoffLimit", 1)),
    ("unknown-kind", "Couldn't find schema", lambda j: j.__setitem__("kind", "Jbo")),
    ("configmap-key-typo", "has no key", lambda j: first_configmap_key_ref(j).__setitem__("key", "TYPO")),
]
original = load(job_template)
job_of(original)
missed = []
for tag, reason, mutate in BREAKS:
    docs = copy.deepcopy(original)
    mutate(job_of(docs))
    broken = os.path.join(scratch, f"job-{tag}.yaml")
    with open(broken, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    errors, _, _ = check(broken, configmaps_in([broken]))
    if not any(reason in e for e in errors):
        missed.append(f"{tag} (errors: {errors or 'none'})")
if missed:
    status = 1
    failed += 1
    print(f"FAIL self-check: broken copies of job.yaml in {scratch} were NOT rejected: {'; '.join(missed)}")
else:
    passed += 1
    print(f"ok   self-check: {len(BREAKS)} broken copies of job.yaml in {scratch} all rejected "
          f"({', '.join(t for t, _, _ in BREAKS)})")
print(f"manifests: {passed} passed, {failed} failed")
sys.exit(status)
PYTHON

# 5. monitoring: the recording rules and the PodMonitor
mon=$here/monitoring
if command -v promtool >/dev/null; then
  if out=$(promtool check rules "$mon/rules.yml" 2>&1); then
    echo "ok   deploy/kubernetes/monitoring/rules.yml: promtool check rules ($(echo "$out" | grep -o '[0-9]* rules found'))"
  else
    echo "FAIL deploy/kubernetes/monitoring/rules.yml: $out"
    exit 1
  fi
else
  echo "validate.sh: promtool not found (Debian: apt-get install prometheus): rules not checked" >&2
  exit 2
fi
"$py" - "$here/job.yaml" "$mon/podmonitor.yaml" <<'PYTHON'
import sys
import yaml

job_path, pm_path = sys.argv[1:]
job = next(d for d in yaml.safe_load_all(open(job_path)) if d and d.get("kind") == "Job")
pm = yaml.safe_load(open(pm_path))
errors = []
if pm.get("apiVersion") != "monitoring.coreos.com/v1" or pm.get("kind") != "PodMonitor":
    errors.append("not a monitoring.coreos.com/v1 PodMonitor")
tmpl = job["spec"]["template"]
labels = (tmpl.get("metadata") or {}).get("labels") or {}
want = ((pm.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
if not want or any(labels.get(k) != v for k, v in want.items()):
    errors.append(f"spec.selector.matchLabels {want} does not match the Job's pod labels {labels}")
ports = {p.get("name"): p.get("containerPort") for c in tmpl["spec"]["containers"] for p in c.get("ports") or []}
endpoints = (pm.get("spec") or {}).get("podMetricsEndpoints") or []
if not endpoints:
    errors.append("no podMetricsEndpoints: nothing would be scraped")
for ep in endpoints:
    if ep.get("port") not in ports:
        errors.append(f"podMetricsEndpoints port {ep.get('port')!r} is not a named port of the Job ({', '.join(map(str, ports)) or 'none'})")
ann = (tmpl.get("metadata") or {}).get("annotations") or {}
if ann.get("prometheus.io/port") != str(ports.get("metrics")):
    errors.append(f"the prometheus.io/port annotation {ann.get('prometheus.io/port')!r} is not the metrics port {ports.get('metrics')!r}")
if errors:
    print("FAIL deploy/kubernetes/monitoring/podmonitor.yaml: " + "; ".join(errors))
    sys.exit(1)
print(f"ok   deploy/kubernetes/monitoring/podmonitor.yaml: selects the Job's pods, port metrics ({ports['metrics']})")
PYTHON
