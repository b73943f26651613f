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
done
((passed + failed > 0)) || { echo "no overlays found in k8s/overlays" >&2; exit 1; }
if "$REPO/tests/deploy/check_containerfiles.sh"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "$passed passed, $failed failed"
((failed == 0))
