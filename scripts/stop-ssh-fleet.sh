#!/usr/bin/env bash
# stop-ssh-fleet.sh — tears down what start-ssh-fleet.sh started: its sshds (by their pid files),
# the `berth-ssh-*` namespaces and veths, and the machines' private disks. Keys stay in the cache
# (start again reuses them). Touches nothing without the `berth-ssh-` prefix.
set -uo pipefail
CACHE="${BERTH_CACHE_DIR:-$HOME/.cache/berth}/ssh-fleet"
STATE=/var/lib/berth-ssh-fleet
for pidfile in "$CACHE"/run/*.pid; do
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  # Only an sshd we started: its command line names our config.
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$CACHE/run/"; then kill "$pid" 2>/dev/null; fi
  rm -f "$pidfile"
done
for n in 1 2 3; do
  ip link del "berth-ssh-h$n" 2>/dev/null
  ip netns del "berth-ssh-m$n" 2>/dev/null
done
rm -rf "$STATE"/m*/srv
echo "ssh fleet stopped"
