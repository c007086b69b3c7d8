#!/usr/bin/env bash
# What building and testing berth-agent (packages/host-agent) needs: Go >= 1.24 to compile it, and
# qemu-user-static so the tests can run its linux/arm64 build on this amd64 machine. Idempotent.
set -euo pipefail
log() { printf '[setup-agent-tools] %s\n' "$*"; }
die() { printf '[setup-agent-tools] error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH: install Go >= 1.24 (https://go.dev/dl/) to build the agent"
version="$(go env GOVERSION)" # e.g. go1.26.8
minor="$(printf '%s' "$version" | sed -E 's/^go1\.([0-9]+).*/\1/')"
[ "${minor:-0}" -ge 24 ] 2>/dev/null || die "$version is too old: the agent needs Go >= 1.24"
log "using $version"

if [ "$(uname -m)" = x86_64 ] && ! command -v qemu-aarch64-static >/dev/null 2>&1; then
  log "installing qemu-user-static (runs the arm64 agent build in tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq qemu-user-static >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq qemu-user-static >/dev/null; } \
    || die "could not install qemu-user-static"
fi
command -v qemu-aarch64-static >/dev/null 2>&1 && log "qemu-aarch64-static: $(command -v qemu-aarch64-static)"
exit 0
