#!/usr/bin/env bash
# Installs Berth's dependencies and runs the quickstart on the local backend (no engine needed).
set -euo pipefail
cd "$(dirname "$0")/.."
node_bin="$(scripts/setup-node.sh | tail -n 1)"
export PATH="$node_bin:$PATH"
npm ci --no-audit --no-fund
npm run quickstart
