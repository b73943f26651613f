#!/usr/bin/env bash
# Builds the legwise images with podman from a local debootstrap'ed Debian bookworm base (no image
# registry is needed: only Debian's package mirror), runs the suite as containers on loopback (host
# network, non-default ports so a local bring-up can run beside it), checks it with
# `legwisectl health` and a triage call, then stops every container with SIGTERM and checks that
# each server drained and exited 0 by itself (PID 1 gets the signal).
#
# Usage (as root on Debian 12): deploy/containers/build-and-run.sh [--build-only] [--keep] [--down]
#                                  [--rebuild-base] [--clean-build]
# Time on 2 shared cores: 5.5-8 min from nothing (debootstrap + import ~1 min, compiling 4-7 min),
# 30-50 s with warm caches.
#   --build-only    build the images, run nothing
#   --keep          leave the containers running (stop them with --down)
#   --down          stop and remove the containers of a --keep run
#   --rebuild-base  debootstrap the base again even if the image exists
#   --clean-build   empty the compile cache shared by the image builds (a cache mount) first
# Env: LEGWISE_IMAGE_TAG (default dev), DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      LEGWISE_BUILD_JOBS (default 2), LEGWISECTL (default build/release/bin/legwisectl if it exists,
#      else the legwisectl image), LEGWISE_CT_PORT_OFFSET (default 1000: triage on 51051...).
# Work files (rootfs, staged sources, Redis data, logs) go to .cache/containers/ (gitignored).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
WORK="$REPO/.cache/containers"
TAG="${LEGWISE_IMAGE_TAG:-dev}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
JOBS="${LEGWISE_BUILD_JOBS:-2}"
OFF="${LEGWISE_CT_PORT_OFFSET:-1000}"
BASE_IMAGE="localhost/legwise/bookworm-base:latest"
SERVICES=(content triage reminder)
export CONTAINERS_CONF="$HERE/containers.conf"

build_only=0 keep=0 rebuild_base=0 down_only=0 clean_build=0
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    --keep) keep=1 ;;
    --down) down_only=1 ;;
    --rebuild-base) rebuild_base=1 ;;
    --clean-build) clean_build=1 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

T0=$SECONDS
log() { printf '\033[1m== [%4ds] %s\033[0m\n' "$((SECONDS - T0))" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

remove_containers() {
  for c in reminder triage content redis; do podman rm -f -t 0 "legwise-ct-$c" >/dev/null 2>&1 || true; done
}
if ((down_only)); then remove_containers; exit 0; fi

# --- tools -------------------------------------------------------------------------------------
missing=()
for p in podman buildah runc debootstrap uidmap; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *"install ok installed"* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p "$WORK"

# --- base image: debootstrap bookworm into a folder, import it -----------------------------------
# Removes a rootfs folder, first unmounting anything debootstrap left mounted in it (/proc...).
clean_rootfs() {
  [[ -d "$1" ]] || return 0
  awk -v r="$1/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  rm -rf --one-file-system "$1"
}
if ((rebuild_base)) || ! podman image exists "$BASE_IMAGE"; then
  log "debootstrap bookworm (minbase) from $MIRROR"
  rootfs="$WORK/rootfs-bookworm"
  clean_rootfs "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; die "debootstrap"; }
  security="${MIRROR%/debian}/debian-security"
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $security bookworm-security main
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/90legwise"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  log "importing it as $BASE_IMAGE"
  tar -C "$rootfs" --numeric-owner -c . | podman import --quiet - "$BASE_IMAGE" >/dev/null
  clean_rootfs "$rootfs"
fi

# --- images --------------------------------------------------------------------------------------
if ((clean_build)); then
  log "emptying the compile cache (cache mount legwise-cmake-build)"
  rm -rf "${TMPDIR:-/var/tmp}/buildah-cache/legwise-cmake-build"
fi
# A staged copy of only what the build needs (mtimes kept, so the shared cmake cache stays valid).
ctx="$WORK/context"
rm -rf "$ctx"; mkdir -p "$ctx/deploy"
cp -a "$REPO/CMakeLists.txt" "$REPO/proto" "$REPO/services" "$REPO/tools" "$ctx/"
cp -a "$HERE" "$ctx/deploy/containers"
build_image() {  # name
  log "building localhost/legwise/$1:$TAG"
  local t=$SECONDS
  podman build --network host --layers --build-arg BASE="$BASE_IMAGE" --build-arg BUILD_JOBS="$JOBS" \
    -f "$HERE/Containerfile.$1" -t "localhost/legwise/$1:$TAG" "$ctx" >"$WORK/build-$1.log" 2>&1 \
    || { tail -30 "$WORK/build-$1.log"; die "podman build $1 (log: $WORK/build-$1.log)"; }
  log "built $1 in $((SECONDS - t)) s ($(podman image inspect --format '{{.Size}}' "localhost/legwise/$1:$TAG") bytes)"
}
for img in redis "${SERVICES[@]}" legwisectl; do build_image "$img"; done
((build_only)) && { log "images built"; exit 0; }

# --- run on loopback -----------------------------------------------------------------------------
P_TRIAGE=$((50051 + OFF)) P_CONTENT=$((50052 + OFF)) P_REMINDER=$((50053 + OFF)) P_REDIS=$((6379 + 10000))
M_TRIAGE=$((9461 + OFF * 10)) M_CONTENT=$((9462 + OFF * 10)) M_REMINDER=$((9463 + OFF * 10))
remove_containers
((keep)) || trap remove_containers EXIT
data="$WORK/redis-data"
rm -rf "$data"; mkdir -p "$data"; chown 65532:65532 "$data"

# The same hardening as the Kubernetes manifests: read-only root, no capabilities, no new privileges.
run() {  # name, podman args..., image, args...
  local name=$1; shift
  podman run -d --name "legwise-ct-$name" --network host --read-only --tmpfs /tmp \
    --cap-drop ALL --security-opt no-new-privileges "$@" >/dev/null
}
log "starting redis on 127.0.0.1:$P_REDIS (AOF in $data)"
run redis -v "$data:/data:Z" "localhost/legwise/redis:$TAG" --bind 127.0.0.1 --port "$P_REDIS"
# The services find Redis and content by the names they have in Kubernetes (legwise-redis,
# legwise-content), here from /etc/hosts: name resolution inside the scratch images is exercised.
common_env=(-e LEGWISE_LISTEN_HOST=127.0.0.1 -e LEGWISE_SHUTDOWN_GRACE=10s -e LEGWISE_DRAIN_DELAY=1s
            --add-host legwise-redis:127.0.0.1 --add-host legwise-content:127.0.0.1)
log "starting content, triage, reminder (gRPC $P_CONTENT, $P_TRIAGE, $P_REMINDER)"
run content "${common_env[@]}" -e LEGWISE_PORT="$P_CONTENT" -e LEGWISE_METRICS_PORT="$M_CONTENT" \
  -e LEGWISE_REDIS_ADDR="legwise-redis:$P_REDIS" "localhost/legwise/content:$TAG"
run triage "${common_env[@]}" -e LEGWISE_PORT="$P_TRIAGE" -e LEGWISE_METRICS_PORT="$M_TRIAGE" \
  -e LEGWISE_CONTENT_ADDR="legwise-content:$P_CONTENT" "localhost/legwise/triage:$TAG"
run reminder "${common_env[@]}" -e LEGWISE_PORT="$P_REMINDER" -e LEGWISE_METRICS_PORT="$M_REMINDER" \
  -e LEGWISE_REDIS_ADDR="legwise-redis:$P_REDIS" -e LEGWISE_CONTENT_ADDR="legwise-content:$P_CONTENT" \
  "localhost/legwise/reminder:$TAG"

ctl_bin="${LEGWISECTL:-$REPO/build/release/bin/legwisectl}"
ctl() {
  local addrs=(--triage_addr=127.0.0.1:$P_TRIAGE --content_addr=127.0.0.1:$P_CONTENT
               --reminder_addr=127.0.0.1:$P_REMINDER)
  local cmd=$1; shift
  if [[ -x "$ctl_bin" ]]; then
    "$ctl_bin" "$cmd" "${addrs[@]}" "$@"
  else
    podman run --rm --network host --read-only --cap-drop ALL "localhost/legwise/legwisectl:$TAG" \
      "$cmd" "${addrs[@]}" "$@"
  fi
}
# Healthy = every service SERVING and every dependency SERVING (legwisectl health exits 0 only when
# the three are ready; triage and content stay ready without their optional dependency).
wait_healthy() {
  local out
  for _ in $(seq 60); do
    if out=$(ctl health 2>&1) && ! grep -qE "NOT_SERVING|UNKNOWN|unreachable" <<<"$out"; then
      echo "$out"; return 0
    fi
    sleep 0.5
  done
  echo "$out"
  for c in redis content triage reminder; do echo "--- $c"; podman logs --tail 20 "legwise-ct-$c" 2>&1; done
  return 1
}
log "waiting for legwisectl health (services and dependencies SERVING)"
wait_healthy || die "the suite did not become healthy"
for c in content triage reminder; do
  pid1=$(podman top "legwise-ct-$c" pid user args 2>/dev/null | awk 'NR==2')
  log "$c: PID 1 = $pid1"
  [[ "$pid1" == 1\ *legwise-$c* ]] || die "$c is not PID 1 or not the server: '$pid1'"
done
log "a triage call through the containers"
ctl triage --weeks 30 --symptom leg_swelling:left:calf --symptom leg_tenderness:left:calf >"$WORK/triage.out" \
  || { cat "$WORK/triage.out"; die "triage call"; }
head -5 "$WORK/triage.out"
ctl plan create --user ct-check --tz Europe/Madrid --wake 07:00 --sleep 22:30 --kinds hydration \
  >/dev/null || die "reminder plan create (Redis write)"

((keep)) && { log "left running (stop with $0 --down)"; exit 0; }

log "SIGTERM to every container: each must drain and exit 0 by itself"
for c in triage reminder content redis; do
  t=$SECONDS
  podman stop -t 30 "legwise-ct-$c" >/dev/null
  code=$(podman inspect --format '{{.State.ExitCode}}' "legwise-ct-$c")
  log "$c exited $code after $((SECONDS - t)) s"
  [[ "$code" == 0 ]] || { podman logs --tail 20 "legwise-ct-$c"; die "$c exit code $code"; }
  # Exit 0 alone could be any clean exit: the server's own SIGTERM path logs shutting_down.
  # (Logs captured first: grep -q closing the pipe early would fail the pipeline under pipefail.)
  if [[ $c != redis ]] && ! grep -q '"event":"shutting_down"' <<<"$(podman logs "legwise-ct-$c" 2>&1)"; then
    die "$c did not log its SIGTERM drain"
  fi
done
ls "$data/appendonlydir" >/dev/null 2>&1 || die "Redis wrote no AOF in $data"
log "AOF present: $(ls "$data/appendonlydir" | tr '\n' ' ')"

log "starting the same containers again: the reminder plan must have survived in Redis"
podman start legwise-ct-redis >/dev/null
podman start legwise-ct-content legwise-ct-triage legwise-ct-reminder >/dev/null
wait_healthy >/dev/null || die "the suite did not become healthy after the restart"
ctl plan get --user ct-check >/dev/null || die "the plan written before the restart is gone"
if ctl plan get --user ct-never-created >/dev/null 2>&1; then die "plan get finds a plan never created"; fi
log "plan found after the restart (and none for a user never created)"
log "OK: images built, suite healthy in containers, clean SIGTERM shutdown, data kept ($((SECONDS - T0)) s in all)"
