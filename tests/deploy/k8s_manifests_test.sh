#!/usr/bin/env bash
# Renders every overlay in k8s/overlays/ with `kubectl kustomize` (offline) and checks it with
# check_manifests.mjs: Kubernetes schemas (npm kubernetes-models, no unknown fields), the deployment
# rules for triage, content and reminder, the NetworkPolicy matrix, Redis; plus a self-test that
# breaks the manifests in memory and expects every break to be caught. Then checks the
# Containerfiles statically (check_containerfiles.sh).
# Needs kubectl (on this project's machines; Debian 12 has no kubectl package) and Node.js + npm.
# The npm packages are installed once into .cache/deploy-npm (needs the npm registry the first
# time; offline afterwards). Runs in a few seconds.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
NPM_DIR="${LEGWISE_DEPLOY_NPM_DIR:-$REPO/.cache/deploy-npm}"
KUBECTL="${KUBECTL:-kubectl}"

command -v "$KUBECTL" >/dev/null || { echo "kubectl not found (set KUBECTL=/path/to/kubectl)" >&2; exit 1; }
command -v node >/dev/null || { echo "node not found (apt-get install nodejs npm)" >&2; exit 1; }
if [[ ! -f "$NPM_DIR/node_modules/kubernetes-models/package.json" || ! -f "$NPM_DIR/node_modules/yaml/package.json" ]]; then
  echo "installing kubernetes-models and yaml into $NPM_DIR" >&2
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error --engine-strict=false \
    kubernetes-models@5.1.0 yaml@2.9.1 >/dev/null
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
passed=0 failed=0
for dir in "$REPO"/k8s/overlays/*/; do
  overlay="$(basename "$dir")"
  if ! "$KUBECTL" kustomize "$dir" >"$out/$overlay.yaml" 2>"$out/$overlay.err"; then
    echo "$overlay: kubectl kustomize failed:"; cat "$out/$overlay.err"
    failed=$((failed + 1)); continue
  fi
  if node "$REPO/tests/deploy/check_manifests.mjs" --modules "$NPM_DIR/node_modules" --overlay "$overlay" \
      --file "$out/$overlay.yaml" --redis-conf "$REPO/deploy/containers/redis.conf" --self-test; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  # The monitoring kit, where an overlay includes it: `promtool check rules` on the rendered
  # PrometheusRule's groups, at least 5 alerts each with a runbook section in k8s/README.md, and a
  # dashboard that is valid JSON.
  if grep -q "^kind: PrometheusRule" "$out/$overlay.yaml"; then
    if /usr/bin/python3 - "$out/$overlay.yaml" "$out/$overlay.rules.yaml" "$REPO/k8s/README.md" <<'PY' &&
import json, re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
rules = [d for d in docs if d.get("kind") == "PrometheusRule"]
yaml.safe_dump({"groups": [g for r in rules for g in r["spec"]["groups"]]}, open(sys.argv[2], "w"))
alerts = [r["alert"] for d in rules for g in d["spec"]["groups"] for r in g["rules"] if "alert" in r]
readme = open(sys.argv[3]).read()
missing = [a for a in alerts if not re.search(r"^#+ " + a + r"\s*$", readme, re.M)]
if len(alerts) < 5 or missing:
    sys.exit(f"{len(alerts)} alerts; without a runbook in k8s/README.md: {missing}")
dash = [d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == "legwise-grafana-dashboard"]
if not dash:
    sys.exit("no Grafana dashboard ConfigMap")
for text in dash[0]["data"].values():
    if not json.loads(text).get("panels"):
        sys.exit("dashboard has no panels")
PY
        /usr/bin/promtool check rules "$out/$overlay.rules.yaml"; then
      passed=$((passed + 1))
    else
      echo "$overlay: monitoring kit check failed"; failed=$((failed + 1))
    fi
  fi
done
((passed + failed > 0)) || { echo "no overlays found in k8s/overlays" >&2; exit 1; }
if "$REPO/tests/deploy/check_containerfiles.sh"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "$passed passed, $failed failed"
((failed == 0))
