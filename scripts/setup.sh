#!/usr/bin/env bash
# Set-up for a fresh Debian 12 / Ubuntu machine, as root. Idempotent: installs only what is
# missing, then `npm ci` and the TypeScript build.
#   scripts/setup.sh daemon   install runtime dependencies, build, start crio on /var/run/crio/crio.sock
#                             with the embedded defaults (no /etc/crio files read)
#   scripts/setup.sh test     install runtime + test dependencies, build, check generated code,
#                             run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

# What the daemon runs: the OCI runtime, its monitor, CNI plugins, iptables for portmap/masquerade,
# unshare/mount/nsenter (util-linux, mount), ip (iproute2), setfattr for layer xattrs and
# opaque whiteouts (attr), socat for port-forward into a pod's network namespace; python3, make and
# g++ for node-gyp, which builds os-lock (the fcntl record locks shared with podman on the image store).
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
    # `npm install` rather than `npm ci`: node-unix-socket declares optional per-platform packages
    # that were never published, which npm ci's lock check refuses; npm install still installs
    # exactly the versions in package-lock.json (and leaves it unchanged).
    npm install --no-audit --no-fund
  fi
  npm run --silent build
}

case "${1:-}" in
  daemon)
    need_root
    install_pkgs "${RUNTIME_PKGS[@]}"
    build
    # Debian's CNI plugins live in /usr/lib/cni, which the embedded plugin_dirs include.
    exec node build/cmd/crio.js --config "" --config-dir ""
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
    echo "usage: scripts/setup.sh daemon|test" >&2
    exit 2
    ;;
esac
