# Shared by deploy/local/up.sh and tests/run_all.sh: install what is missing, build.
# Sourced, not run. Expects REPO to be set.

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages in deploy/packages.txt that are not installed yet (idempotent: with
# nothing missing it does not touch apt at all). Node.js and npm are only installed when `npm` is
# missing, so a machine with its own Node.js keeps it.
install_packages() {
  local missing=()
  while read -r pkg; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < "$REPO/deploy/packages.txt"
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Builds the release preset (or $LEGWISE_PRESET) into build/<preset>.
build() {
  local preset="${LEGWISE_PRESET:-release}"
  log "building ($preset)"
  cmake --preset "$preset" -S "$REPO" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)" "$@"
}

# buf from npm, installed once into .cache/buf (works offline afterwards).
buf_bin() {
  local dir="$REPO/.cache/buf"
  if [[ ! -x "$dir/node_modules/.bin/buf" ]]; then
    log "installing buf (npm @bufbuild/buf)"
    mkdir -p "$dir"
    npm install --silent --prefix "$dir" @bufbuild/buf >/dev/null 2>&1
  fi
  echo "$dir/node_modules/.bin/buf"
}
