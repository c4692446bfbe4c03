#!/usr/bin/env bash
# Installs what Lazarus needs on a fresh Debian machine: the libvirt/qemu packages for the local hosts
# (only those missing) and the npm packages, including the pinned Node 24 every npm script runs on.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-novaclient and python3-openstackclient: the clients operators already have, driven by test/hosts/api-clients.test.ts.
# openipmi (ipmi_sim: each local host's BMC), fence-agents + ipmitool (the delegates' fence_ipmilan), awscli (a delegate
# reads the BMC password with it; test/unit/local/aws-cli.test.ts drives it against the local endpoints), curl (the BMC simulator's chassis control): IPMI fencing, local/bmc.
# systemd: systemd-analyze, which verifies the host agent's units (test/unit/host-agent/package.test.ts; dpkg-deb builds the package).
# chromium: the web console's browser tests and screenshot (test/hosts/console.test.ts, npm run screenshot), headless, driven by
# puppeteer-core (which downloads no browser).
DEBIAN_PACKAGES=(libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils libxml2-utils passwd procps systemd python3-novaclient python3-openstackclient openipmi fence-agents ipmitool awscli curl chromium)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  # A registry that stalls once must not fail the run: apt retries each download, and the whole install is tried again.
  for attempt in 1 2 3; do
    if "${sudo_cmd[@]}" apt-get -o Acquire::Retries=5 update -qq &&
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o Acquire::Retries=5 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      break
    fi
    [ "$attempt" -lt 3 ] || { echo "setup: Debian packages could not be installed" >&2; exit 1; }
    echo "setup: Debian package install failed (attempt $attempt), trying again"
    sleep $((attempt * 10))
  done
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  # The npm registry sometimes stalls mid-download (EIDLETIMEOUT seen in CI): npm retries each fetch, and a failed
  # `npm ci` (which starts from an empty node_modules each time) is run again after a pause.
  for attempt in 1 2 3 4; do
    if npm ci --no-audit --no-fund --loglevel=error --fetch-retries=5 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=30000; then
      break
    fi
    [ "$attempt" -lt 4 ] || { echo "setup: npm packages could not be installed" >&2; exit 1; }
    echo "setup: npm ci failed (attempt $attempt), trying again"
    sleep $((attempt * 15))
  done
fi
echo "setup: $(npm exec --no -- node -v) (Node for npm scripts), $(virsh --version 2>/dev/null | sed 's/^/virsh /')"
