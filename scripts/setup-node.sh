#!/usr/bin/env bash
# Make Node >= 22 available. The machine may ship an end-of-life Node (20); Berth targets >= 22,
# so install Node 24 LTS from the npm registry's `node` package into ~/.cache/berth/node24 and
# print the bin directory to put first on PATH. Idempotent; prints the bin dir as its last line.
set -euo pipefail
cache="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"
prefix="$cache/node24"
major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if command -v node >/dev/null 2>&1 && [ "$(major node)" -ge 22 ]; then
  dirname "$(command -v node)"
  exit 0
fi
if [ -x "$prefix/bin/node" ] && [ "$(major "$prefix/bin/node")" -ge 22 ]; then
  echo "$prefix/bin"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "setup-node: npm is needed to install Node 24 (apt-get install npm)" >&2; exit 1; }
echo "setup-node: installing Node 24 LTS into $prefix (machine has $(node --version 2>/dev/null || echo none))" >&2
mkdir -p "$prefix"
# The `node` package's own install step is an install script; allow it explicitly.
npm install -g --prefix "$prefix" --no-audit --no-fund --allow-scripts=node node@24 >&2 \
  || npm install -g --prefix "$prefix" --no-audit --no-fund node@24 >&2
[ "$(major "$prefix/bin/node")" -ge 22 ] || { echo "setup-node: installed node does not run" >&2; exit 1; }
echo "$prefix/bin"
