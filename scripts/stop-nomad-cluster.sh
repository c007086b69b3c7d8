#!/usr/bin/env bash
# stop-nomad-cluster.sh — tear down what scripts/start-nomad-cluster.sh made, leaving no job,
# container, process, namespace, veth or bridge behind. Touches only `berth-nc-*` things: jobs
# on the cluster's own server, containers labelled with a berth-nc node name, processes inside
# the berth-nc namespaces, and the cluster's run dir.
set -uo pipefail

CACHE_ROOT="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"
ROOT="$CACHE_ROOT/nomad-cluster"
ADDR="http://10.213.12.1:4846"
log() { printf '[nomad-cluster] %s\n' "$*" >&2; }
is_agent() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'nomad.* agent'; }

# 1. Stop every job while the clients still run, so they stop their tasks themselves; wait for
#    the allocations to end, then purge. (Purging first drops the allocations from the server at
#    once, so the wait would see nothing to wait for while the tasks still run.)
if curl -fsS --max-time 2 "$ADDR/v1/status/leader" >/dev/null 2>&1; then
  jobs="$(curl -fsS --max-time 5 "$ADDR/v1/jobs" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const j of JSON.parse(s))console.log(j.ID)})' 2>/dev/null || true)"
  for job in $jobs; do curl -fsS --max-time 5 -X DELETE "$ADDR/v1/job/$job" >/dev/null 2>&1 || true; done
  for _ in $(seq 1 100); do
    running="$(curl -fsS --max-time 3 "$ADDR/v1/allocations" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(a=>a.ClientStatus==="running"||a.ClientStatus==="pending").length))' 2>/dev/null || echo 0)"
    [[ "$running" == 0 ]] && break
    sleep 0.2
  done
  for job in $jobs; do curl -fsS --max-time 5 -X DELETE "$ADDR/v1/job/$job?purge=true" >/dev/null 2>&1 || true; done
  [[ -z "$jobs" ]] || log "stopped and purged $(wc -w <<<"$jobs") job(s)"
fi

# 2. Agents: clients first, then the server.
for dir in "$ROOT"/c* "$ROOT/server"; do
  [[ -f "$dir/nomad.pid" ]] || continue
  pid="$(cat "$dir/nomad.pid" 2>/dev/null || true)"
  if is_agent "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    log "stopped $(basename "$dir") (pid $pid)"
  fi
  rm -f "$dir/nomad.pid"
done

# 3. Leftovers: containers of our nodes, processes in our namespaces (raw_exec tasks, executors).
for name in $(docker ps -aq --filter label=com.hashicorp.nomad.node_name 2>/dev/null | xargs -r docker inspect -f '{{.Id}} {{index .Config.Labels "com.hashicorp.nomad.node_name"}}' 2>/dev/null | awk '$2 ~ /^berth-nc-/ {print $1}'); do
  docker rm -f "$name" >/dev/null 2>&1 && log "removed container ${name:0:12}"
done
for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^berth-nc-/ {print $1}'); do
  pids="$(ip netns pids "$ns" 2>/dev/null || true)"
  if [[ -n "$pids" ]]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    log "killed $(wc -w <<<"$pids") process(es) left in $ns"
  fi
  ip netns del "$ns" 2>/dev/null || true
done
# Executors of raw_exec tasks keep the client's data dir in their argv even outside a namespace.
for pid in $(pgrep -f "$ROOT/" 2>/dev/null || true); do
  [[ "$pid" == "$$" ]] || kill -KILL "$pid" 2>/dev/null || true
done

# berth-agent installs of raw_exec hosts live on the nodes' root file system (here: this machine's).
# Only when no other Nomad agent on the machine runs raw_exec allocations that may still use them.
if ! pgrep -f 'nomad.* agent' >/dev/null 2>&1; then
  rm -rf /.berth/agent-* 2>/dev/null && log "removed /.berth/agent-* (berth-agent installs)"
  rmdir /.berth 2>/dev/null || true
fi

# 4. Network and files.
for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^berth-nc-' || true); do
  ip link del "$link" 2>/dev/null || true
done
if [[ -d "$ROOT" ]]; then
  grep -o " $ROOT/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
  find "$ROOT" -mindepth 1 -maxdepth 1 ! -name '.start.lock' -exec rm -rf {} + 2>/dev/null || true
fi
log "cluster torn down"
