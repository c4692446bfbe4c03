#!/usr/bin/env bash
# The main job: set up, then the local demo (hosts up, host-a dies, its instances come back elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npm run --silent demo
