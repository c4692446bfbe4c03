#!/usr/bin/env bash
# Installs what Lazarus needs on a fresh Debian machine: the libvirt/qemu packages for the local hosts
# (only those missing) and the npm packages, including the pinned Node 24 every npm script runs on.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-novaclient and python3-openstackclient: the clients operators already have, driven by test/hosts/api-clients.test.ts.
DEBIAN_PACKAGES=(libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils libxml2-utils passwd procps python3-novaclient python3-openstackclient)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: $(npm exec --no -- node -v) (Node for npm scripts), $(virsh --version 2>/dev/null | sed 's/^/virsh /')"
