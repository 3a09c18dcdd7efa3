#!/usr/bin/env bash
# Set-up for a fresh Debian 12 / Ubuntu machine, as root. Idempotent: installs only what is
# missing, then `npm ci` and the TypeScript build.
#   scripts/setup.sh daemon   install runtime dependencies, build, start crio on /var/run/crio/crio.sock
#                             with the embedded defaults (no /etc/crio files read); installs the
#                             default bridge CNI network when /etc/cni/net.d has none
#   scripts/setup.sh install  install runtime dependencies and `crio` on PATH (npm pack + npm
#                             install -g), /etc/crio/crio.conf (when absent), the default CNI
#                             network (when none) and, where systemd runs, crio.service
#   scripts/setup.sh test     install runtime + test dependencies, build, check generated code,
#                             run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

# What the daemon runs: the OCI runtime, its monitor, CNI plugins, iptables for portmap/masquerade,
# unshare/mount/nsenter (util-linux, mount), ip (iproute2), setfattr for layer xattrs and
# opaque whiteouts (attr), socat for port-forward into a pod's network namespace; python3, make and
# g++ for node-gyp, which builds os-lock (the fcntl record locks shared with podman on the image store),
# and its gcc for native/spawn.c (posix_spawn for the daemon, built by npm run build).
RUNTIME_PKGS=(runc conmon containernetworking-plugins iptables iproute2 util-linux mount attr socat perl python3 make g++)
# What the tests and code generation need: a real registry, the busybox the test images are built
# from, htpasswd for the auth tests, apparmor_parser for profile syntax checks, zstd for zstd
# test layers, openssl for the token issuer's certificate, ping, protoc and the runtime-spec JSON schema (gen:check),
# podman and skopeo for the tests of the image store shared with them.
TEST_PKGS=(docker-registry busybox-static apache2-utils apparmor zstd openssl iputils-ping protobuf-compiler golang-github-opencontainers-specs-dev git dbus-daemon systemd podman skopeo)

need_root() {
  if [ "$(id -u)" != 0 ]; then echo "setup.sh: run as root (containers need it)" >&2; exit 1; fi
}

install_pkgs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

build() {
  command -v node >/dev/null || { echo "setup.sh: Node.js 20+ is required" >&2; exit 1; }
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    # Exactly the lock file's versions. node-unix-socket declares per-platform packages that were
    # never published; the lock lists them (optional, with their os/cpu) so npm ci's check passes
    # and npm skips them on other platforms.
    npm ci --no-audit --no-fund
  fi
  npm run --silent build
}

# CRI-O's default network (contrib/cni/11-crio-ipv4-bridge.conflist: bridge cni0, 10.85.0.0/16,
# host-local; the runtime brings lo up itself), only where no CNI network is configured yet.
CNI_DIR=${CNI_DIR:-/etc/cni/net.d}
install_cni_default() {
  mkdir -p "$CNI_DIR"
  if ! ls "$CNI_DIR"/*.conf "$CNI_DIR"/*.conflist "$CNI_DIR"/*.json >/dev/null 2>&1; then
    install -m 0644 contrib/cni/11-crio-ipv4-bridge.conflist "$CNI_DIR/"
    echo "setup.sh: installed $CNI_DIR/11-crio-ipv4-bridge.conflist (bridge cni0, 10.85.0.0/16)"
  fi
}

install_crio() {
  local tmp tarball bin
  tmp=$(mktemp -d)
  tarball=$(npm pack --silent --pack-destination "$tmp")
  npm install -g --no-audit --no-fund "$tmp/$tarball"
  rm -rf "$tmp"
  bin=$(command -v crio)
  echo "setup.sh: installed $bin ($("$bin" version | head -1))"
  if [ ! -e /etc/crio/crio.conf ]; then
    mkdir -p /etc/crio
    "$bin" config --config "" --config-dir "" > /etc/crio/crio.conf
    echo "setup.sh: wrote /etc/crio/crio.conf (the built-in defaults, every key documented)"
  fi
  install_cni_default
  if [ -d /run/systemd/system ]; then
    for unit in crio.service crio-wipe.service; do
      sed "s#/usr/local/bin/crio#$bin#" "contrib/systemd/$unit" > "/etc/systemd/system/$unit"
    done
    systemctl daemon-reload
    systemctl enable crio-wipe.service crio.service
    echo "setup.sh: crio.service installed and enabled; start it with: systemctl start crio"
  else
    echo "setup.sh: systemd is not running here; start the daemon with: $bin"
  fi
}

case "${1:-}" in
  install)
    need_root
    install_pkgs "${RUNTIME_PKGS[@]}"
    build
    install_crio
    ;;
  daemon)
    need_root
    install_pkgs "${RUNTIME_PKGS[@]}"
    build
    install_cni_default
    # Debian's CNI plugins live in /usr/lib/cni, which the embedded plugin_dirs include.
    # glibc malloc settings and node flags that keep the idle daemon a few MiB smaller (lib/server/launch-env.ts).
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2 exec node --no-icu-timezone-data --expose-gc build/cmd/crio.js --config "" --config-dir ""
    ;;
  test)
    need_root
    install_pkgs "${RUNTIME_PKGS[@]}" "${TEST_PKGS[@]}"
    build
    npm run --silent gen:check
    # Wire identity with upstream CRI, where the workplace's reference copy is beside the repo.
    if [ -f ../shared/tools/proto-diff.mjs ]; then npm run --silent proto:diff; fi
    exec node scripts/run-tests.js all
    ;;
  *)
    echo "usage: scripts/setup.sh daemon|install|test" >&2
    exit 2
    ;;
esac
