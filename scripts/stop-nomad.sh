#!/usr/bin/env bash
# stop-nomad.sh — stop the Nomad test agent(s) started by scripts/start-nomad.sh /
# scripts/start-nomad-acl.sh, using their pid files.
#
# Usage: scripts/stop-nomad.sh [main|acl|all]     (default: all)
#
# Only the agent process is stopped (SIGTERM, then SIGKILL after 30 s). Nothing is
# purged: data dirs (jobs, ACL tokens), logs and running tasks stay, so the next
# start-nomad.sh picks the state up again and re-attaches to still-running tasks
# (raw_exec processes / docker containers keep running while the agent is down).
# To start from scratch: scripts/stop-nomad.sh && rm -rf ~/.cache/berth/nomad-run/data ~/.cache/berth/nomad-acl/data
set -euo pipefail

CACHE_ROOT="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"
WHICH="${1:-all}"

stop_one() { # name run_dir
  local name="$1" pid_file="$2/nomad.pid" pid
  if [[ ! -f "$pid_file" ]]; then
    echo "[stop-nomad:$name] not running (no $pid_file)"
    return 0
  fi
  pid="$(cat "$pid_file" 2>/dev/null || true)"
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    echo "[stop-nomad:$name] not running (stale pid file, pid ${pid:-?}); removing it"
    rm -f "$pid_file"
    return 0
  fi
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'nomad.* agent'; then
    echo "[stop-nomad:$name] pid $pid is not a nomad agent; removing stale pid file, killing nothing"
    rm -f "$pid_file"
    return 0
  fi
  echo "[stop-nomad:$name] stopping nomad agent pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "[stop-nomad:$name] still alive after 30s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pid_file"
  echo "[stop-nomad:$name] stopped"
}

case "$WHICH" in
  main) stop_one main "$CACHE_ROOT/nomad-run" ;;
  acl)  stop_one acl "$CACHE_ROOT/nomad-acl" ;;
  all)  stop_one main "$CACHE_ROOT/nomad-run"; stop_one acl "$CACHE_ROOT/nomad-acl" ;;
  *)    echo "usage: $0 [main|acl|all]" >&2; exit 2 ;;
esac
