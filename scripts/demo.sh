#!/usr/bin/env bash
# The main job: set up, then the local demo (3 hosts; host-1 dies, its alarm fires, its instances come back elsewhere; host-1 returns clean).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npm run --silent demo -- "$@"
