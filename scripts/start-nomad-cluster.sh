#!/usr/bin/env bash
# start-nomad-cluster.sh — a real multi-node Nomad cluster on this machine for Berth's cluster tests.
#
# Usage:
#   scripts/start-nomad-cluster.sh                 # server + $BERTH_NC_CLIENTS clients (default 2)
#   scripts/start-nomad-cluster.sh client c1       # (re)start one client (after a test killed it)
#   scripts/stop-nomad-cluster.sh                  # tear everything down
#
# Layout (everything named `berth-nc-*`, nothing shared with the dev agent 4646 / ACL agent 4746):
#   bridge  berth-nc-br0   10.213.12.1/24 in the root namespace; the server binds that address:
#           http 4846, rpc 4847, serf 4848. Tests talk to http://10.213.12.1:4846.
#   client  cN             network namespace berth-nc-cN, veth berth-nc-cNh (bridge side) /
#                          berth-nc-cNn (inside, 10.213.12.(10+N)), node name berth-nc-cN,
#                          http/rpc 4856/4857 inside its namespace, its own data dir.
#   run dir $BERTH_CACHE_DIR/nomad-cluster/{server,cN}/ (data/, agent.hcl, nomad.log, nomad.pid)
#   fixture $BERTH_CACHE_DIR/nomad-cluster/cluster.json — address + nodes; tests read it
#           (path overridable with BERTH_NOMAD_CLUSTER_FIXTURE).
#
# Clients are distinct Nomad nodes with their own addresses: each runs in its own network
# namespace (entered with nsenter --net only, so cgroups, /sys and mounts stay the machine's).
# Both run raw_exec and docker on the machine's shared dockerd with locally built images; each
# client's dangling-container reaper and image GC are off (they would kill or delete what the
# other agents use), and no image is ever pulled.
#
# The server is started first and the clients only once it has a leader and an active keyring
# key (a client registering earlier is refused for ~17 s). Heartbeats are short
# (min_heartbeat_ttl 2s, heartbeat_grace 2s) so a killed client is `down` within seconds.
#
# Each client reports cpu_total_compute 4000 MHz and memory_total_mb 8192, whatever the machine.
#
# Idempotent: an already-running server/client is left alone unless its generated agent.hcl
# changed (then it is restarted with the new one); the fixture is rewritten.
# Env: BERTH_NOMAD_BIN, BERTH_CACHE_DIR, BERTH_NC_CLIENTS (2..8), BERTH_NC_WAIT (default 30 s).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"
ROOT="$CACHE_ROOT/nomad-cluster"
FIXTURE="${BERTH_NOMAD_CLUSTER_FIXTURE:-$ROOT/cluster.json}"
CLIENTS="${BERTH_NC_CLIENTS:-2}"
WAIT="${BERTH_NC_WAIT:-30}"
BRIDGE=berth-nc-br0
SUBNET_PREFIX=10.213.12
SERVER_IP="$SUBNET_PREFIX.1"
HTTP_PORT=4846 RPC_PORT=4847 SERF_PORT=4848
CLIENT_HTTP=4856 CLIENT_RPC=4857
NODE_CPU_MHZ=4000 NODE_MEMORY_MB=8192
ADDR="http://$SERVER_IP:$HTTP_PORT"

log() { printf '[nomad-cluster] %s\n' "$*" >&2; }
die() { printf '[nomad-cluster] ERROR: %s\n' "$*" >&2; exit 1; }
[[ "$CLIENTS" =~ ^[2-8]$ ]] || die "BERTH_NC_CLIENTS must be 2..8, got $CLIENTS"
[[ "$(id -u)" == 0 ]] || die "needs root (network namespaces, veth, bridge)"

resolve_bin() {
  if [[ -n "${BERTH_NOMAD_BIN:-}" ]]; then NOMAD_BIN="$BERTH_NOMAD_BIN"
  else NOMAD_BIN="$("$SCRIPT_DIR/setup-nomad.sh" </dev/null | tail -n1)"; fi
  [[ -x "$NOMAD_BIN" ]] || die "nomad binary not found/executable: $NOMAD_BIN"
}

is_agent() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'nomad.* agent'; }
api() { curl -fsS --max-time 3 "$ADDR$1" 2>/dev/null; }

ensure_network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$SERVER_IP/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
}

ensure_client_network() { # N
  local n="$1" ns="berth-nc-c$1" host="berth-nc-c$1h" inner="berth-nc-c$1n"
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  if ! ip link show "$host" >/dev/null 2>&1; then
    ip link add "$host" type veth peer name "$inner"
    ip link set "$inner" netns "$ns"
    ip link set "$host" master "$BRIDGE"
    ip -n "$ns" addr add "$SUBNET_PREFIX.$((10 + n))/24" dev "$inner"
  fi
  ip link set "$host" up
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "$inner" up
}

# launch NAME RUN_DIR [nsenter args...] -- agent args
launch() {
  local name="$1" dir="$2"; shift 2
  local pid
  pid="$(cat "$dir/nomad.pid" 2>/dev/null || true)"
  if is_agent "$pid"; then
    if cmp -s "$dir/agent.hcl.next" "$dir/agent.hcl"; then
      rm -f "$dir/agent.hcl.next"
      log "$name already running (pid $pid)"
      return 0
    fi
    # Its configuration changed since it started: a re-run must apply it, so restart it.
    log "$name config changed: restarting it (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do is_agent "$pid" || break; sleep 0.1; done
    if is_agent "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  fi
  # A stale pid file would end the wait for the new one at once.
  rm -f "$dir/nomad.pid"
  mv -f "$dir/agent.hcl.next" "$dir/agent.hcl"
  mkdir -p "$dir/data"
  printf '\n==== %s start (%s) ====\n' "$(date -u +%FT%TZ)" "$name" >>"$dir/nomad.log"
  # shellcheck disable=SC2016  # $$/$0/$@ belong to the inner bash
  setsid nohup "$@" bash -c 'echo $$ >"$0"; exec "$@"' "$dir/nomad.pid" \
    "$NOMAD_BIN" agent -config "$dir/agent.hcl" </dev/null >>"$dir/nomad.log" 2>&1 9>&- &
  for _ in $(seq 1 50); do [[ -s "$dir/nomad.pid" ]] && break; sleep 0.1; done
  log "$name started (pid $(cat "$dir/nomad.pid" 2>/dev/null || echo ?), log $dir/nomad.log)"
}

start_server() {
  local dir="$ROOT/server"
  mkdir -p "$dir"
  cat >"$dir/agent.hcl.next" <<EOF
# Generated by scripts/start-nomad-cluster.sh
name                 = "berth-nc-server"
datacenter           = "dc1"
data_dir             = "$dir/data"
bind_addr            = "$SERVER_IP"
disable_update_check = true
log_level            = "INFO"
advertise {
  http = "$SERVER_IP"
  rpc  = "$SERVER_IP"
  serf = "$SERVER_IP"
}
ports {
  http = $HTTP_PORT
  rpc  = $RPC_PORT
  serf = $SERF_PORT
}
server {
  enabled          = true
  bootstrap_expect = 1
  # Node loss must be testable in seconds, not the default ~20-30 s.
  min_heartbeat_ttl = "2s"
  heartbeat_grace   = "2s"
  # Keep terminal jobs/allocs for a while (tests inspect them), but not forever.
  job_gc_threshold  = "10m"
}
# Nomad's default http_max_conns_per_client (100) stays: Berth carries every slot of a host over
# one exec session (berth-agent), and the tests prove it holds under the default.
EOF
  launch server "$dir" env
}

start_client() { # N
  local n="$1" dir="$ROOT/c$1" ip="$SUBNET_PREFIX.$((10 + $1))"
  ensure_client_network "$n"
  mkdir -p "$dir"
  cat >"$dir/agent.hcl.next" <<EOF
# Generated by scripts/start-nomad-cluster.sh
name                 = "berth-nc-c$n"
datacenter           = "dc1"
data_dir             = "$dir/data"
bind_addr            = "$ip"
disable_update_check = true
log_level            = "INFO"
advertise {
  http = "$ip"
  rpc  = "$ip"
}
ports {
  http = $CLIENT_HTTP
  rpc  = $CLIENT_RPC
}
client {
  enabled           = true
  servers           = ["$SERVER_IP:$RPC_PORT"]
  network_interface = "berth-nc-c${n}n"
  gc_interval       = "1m"
  # Fixed sizes, whatever this machine's CPUs fingerprint as: tests size asks against them
  # (test/fixtures/nomad-cluster.ts NODE_CPU_MHZ / NODE_MEMORY_MB).
  cpu_total_compute = $NODE_CPU_MHZ
  memory_total_mb   = $NODE_MEMORY_MB
  meta {
    berth_nc_node = "c$n"
  }
  options {
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
plugin "docker" {
  config {
    allow_privileged = false
    gc {
      # Local test images cannot be pulled back; never delete them.
      image     = false
      container = true
      # The machine's dockerd is shared with other Nomad agents: never reap their containers.
      dangling_containers {
        enabled = false
      }
    }
  }
}
EOF
  launch "client c$n" "$dir" nsenter "--net=/run/netns/berth-nc-c$n"
}

wait_for_server() {
  local deadline=$((SECONDS + WAIT)) leader keys
  until leader="$(api /v1/status/leader)" && [[ "$leader" == *:* ]]; do
    ((SECONDS < deadline)) || die "no leader on $ADDR after ${WAIT}s; see $ROOT/server/nomad.log"
    sleep 0.2
  done
  until keys="$(api /v1/operator/keyring/keys)" && grep -q '"State":"active"' <<<"$keys"; do
    ((SECONDS < deadline)) || die "no active keyring key on $ADDR after ${WAIT}s"
    sleep 0.2
  done
  log "server ready: leader $leader, keyring active (${SECONDS}s)"
}

# Ready when the node is `ready`, eligible and both drivers are healthy.
node_ready() { # name
  local nodes id node
  nodes="$(api /v1/nodes)" || return 1
  id="$(node -e 'const n=JSON.parse(process.argv[1]).find(n=>n.Name===process.argv[2]&&n.Status==="ready");process.stdout.write(n?n.ID:"")' "$nodes" "$1" 2>/dev/null)" || return 1
  [[ -n "$id" ]] || return 1
  node="$(api "/v1/node/$id")" || return 1
  node -e '
    const n = JSON.parse(process.argv[1]);
    const ok = n.Status === "ready" && n.SchedulingEligibility === "eligible" &&
      n.Drivers?.raw_exec?.Healthy && n.Drivers?.docker?.Healthy;
    process.exit(ok ? 0 : 1);' "$node"
}

wait_for_clients() { # names...
  local deadline=$((SECONDS + WAIT)) name
  for name in "$@"; do
    until node_ready "$name"; do
      ((SECONDS < deadline)) || die "node $name not ready with raw_exec+docker after ${WAIT}s; see $ROOT/${name#berth-nc-}/nomad.log"
      sleep 0.2
    done
  done
  log "nodes ready: $* (${SECONDS}s)"
}

write_fixture() {
  local nodes="" n
  for n in $(seq 1 "$CLIENTS"); do
    nodes+="${nodes:+,}{\"name\":\"berth-nc-c$n\",\"client\":\"c$n\",\"address\":\"$SUBNET_PREFIX.$((10 + n))\",\"pidFile\":\"$ROOT/c$n/nomad.pid\",\"netns\":\"berth-nc-c$n\"}"
  done
  mkdir -p "$(dirname "$FIXTURE")"
  printf '{"address":"%s","startScript":"%s","nodes":[%s]}\n' "$ADDR" "$SCRIPT_DIR/start-nomad-cluster.sh" "$nodes" >"$FIXTURE.tmp"
  mv -f "$FIXTURE.tmp" "$FIXTURE"
}

command -v node >/dev/null || die "node is required (JSON parsing)"
resolve_bin
mkdir -p "$ROOT"
exec 9>"$ROOT/.start.lock"
flock 9

if [[ "${1:-}" == client ]]; then
  c="${2:?usage: $0 client cN}"; c="${c#c}"
  [[ "$c" =~ ^[1-8]$ ]] || die "unknown client c$c"
  ensure_network
  start_client "$c"
  wait_for_clients "berth-nc-c$c"
  exit 0
fi

ensure_network
start_server
wait_for_server
names=()
for n in $(seq 1 "$CLIENTS"); do start_client "$n"; names+=("berth-nc-c$n"); done
wait_for_clients "${names[@]}"
write_fixture
log "cluster up at $ADDR in ${SECONDS}s; fixture $FIXTURE"
echo "NOMAD_CLUSTER_ADDR=$ADDR"
