#!/bin/sh
# Runs inside the build stage of every legwise Containerfile: assembles the whole runtime file system
# of a "FROM scratch" image in DEST, holding only
#   - the given executables (stripped of debug info) in /usr/local/bin,
#   - every shared library they load (from ldd, the dynamic loader included),
#   - tzdata (/usr/share/zoneinfo: reminder plans are in the user's time zone),
#   - the CA certificates bundle (/etc/ssl/certs/ca-certificates.crt, for TLS to a managed Redis),
#   - /etc/passwd and /etc/group naming the non-root user legwise (uid/gid 65532), a minimal
#     /etc/nsswitch.conf (hosts: files dns) and a world-writable sticky /tmp.
# No shell, no package manager: nothing in the image runs but the server.
# Usage: collect-rootfs.sh DEST EXECUTABLE...
set -eu
dest=$1
shift
[ $# -gt 0 ] || { echo "usage: $0 DEST EXECUTABLE..." >&2; exit 2; }

mkdir -p "$dest/usr/local/bin" "$dest/etc/ssl/certs" "$dest/usr/share" "$dest/tmp" "$dest/data"
chmod 1777 "$dest/tmp"

for exe in "$@"; do
  cp -L "$exe" "$dest/usr/local/bin/"
  strip --strip-debug "$dest/usr/local/bin/$(basename "$exe")"
  # ldd lines: "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
  ldd "$exe" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | while read -r lib; do
    # Keep the path the loader asks for (e.g. /lib64/ld-linux-x86-64.so.2), as a real file.
    [ -e "$dest$lib" ] || cp -L --parents "$lib" "$dest/"
  done
done
if ldd "$@" 2>&1 | grep -q "not found"; then
  echo "collect-rootfs: missing shared libraries:" >&2
  ldd "$@" | grep "not found" >&2
  exit 1
fi

cp -a /usr/share/zoneinfo "$dest/usr/share/"
cp -L /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/"
cat >"$dest/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
legwise:x:65532:65532:legwise:/nonexistent:/usr/sbin/nologin
EOF
cat >"$dest/etc/group" <<'EOF'
root:x:0:
legwise:x:65532:
EOF
echo "hosts: files dns" >"$dest/etc/nsswitch.conf"
chown 65532:65532 "$dest/data"
