#!/usr/bin/env bash
# Installs every engine the tests need (Node 24, dockerd + local test images, a Nomad agent built
# from its Go module, Go and qemu-user-static for berth-agent, a fleet of sshd machines) and runs the whole test suite.
# This is what CI runs (`.ci/run`).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEEDRESTART_SUSPEND=1 DEBIAN_FRONTEND=noninteractive
step() { printf '\n==> %s (%ss)\n' "$1" "$SECONDS"; }

step "Node"
node_bin="$(scripts/setup-node.sh | tail -n 1)"
export PATH="$node_bin:$PATH"
node --version

step "npm ci"
# The lockfile carries every platform's optional packages (biome, turbo, esbuild…), so `npm ci`
# installs it as committed on Linux and macOS alike; regenerate it with
# `npm install --package-lock-only` (never from a tree that dropped other platforms' packages).
npm ci --no-audit --no-fund
# The `berth` bin must work straight after `npm ci`, before any build (it runs from source then).
npx berth --help >/dev/null

step "dockerd"
scripts/setup-docker.sh
step "test images"
scripts/build-test-images.sh

step "nomad (built once per machine, cached in ~/.cache/berth)"
scripts/setup-nomad.sh
scripts/start-nomad.sh
scripts/start-nomad-acl.sh
step "nomad cluster (one server, two clients in berth-nc-* network namespaces)"
scripts/start-nomad-cluster.sh

step "ssh fleet (sshd machines in berth-ssh-* network namespaces)"
scripts/start-ssh-fleet.sh

step "agent toolchain (Go for berth-agent, qemu-user-static for its arm64 build)"
scripts/setup-agent-tools.sh

step "build, typecheck, lint"
npx turbo run build
npm run typecheck
npm run lint

step "docs (TypeDoc API reference: warnings and broken links fail; every relative Markdown link resolves)"
npm run docs

step "tests"
npx vitest run
step "done"
