#!/usr/bin/env bash
# start-nomad.sh — start a local single-node Nomad agent for Berth integration tests.
#
# Usage:
#   scripts/start-nomad.sh                      # main agent:  http://127.0.0.1:4646
#   BERTH_NOMAD_ACL=1 scripts/start-nomad.sh    # ACL agent:   http://127.0.0.1:4746
#   scripts/start-nomad-acl.sh                  # same as the line above
#   scripts/stop-nomad.sh [main|acl|all]        # stop (default: all)
#
# Design choice: NOT `nomad agent -dev`. `-dev` keeps all state in memory, so jobs
# would be lost when the agent restarts, and Berth's tests restart the agent
# between two pool lifetimes. Instead each agent is a regular single-node agent
# (server + client in one process, bootstrap_expect = 1) with a persistent
# data_dir, so a stop/start keeps jobs, allocations and (for the ACL agent) tokens.
# It is still dev-like: bound to 127.0.0.1 only (-bind 127.0.0.1,
# -network-interface lo), raw_exec enabled, docker configured for local images
# (see scripts/nomad-dev.hcl). Wipe state with: scripts/stop-nomad.sh && rm -rf <run dir>/data
#
#                 main agent                         ACL agent (BERTH_NOMAD_ACL=1)
#   ports         http 4646, rpc 4647, serf 4648     http 4746, rpc 4747, serf 4748
#   run dir       $HOME/.cache/berth/nomad-run/      $HOME/.cache/berth/nomad-acl/
#   node name     berth-dev                          berth-acl
#   dynamic ports 20000-25999                        26000-31999
#   acl           disabled                           enabled, bootstrapped; management
#                                                    token in <run dir>/token
# Each run dir holds: data/ (data_dir), agent.hcl (generated overlay), nomad.log,
# nomad.pid. Both agents are complete server+client "clusters" of their own; they
# share dockerd (the docker plugin's dangling-container reaper is disabled in
# nomad-dev.hcl so they do not kill each other's containers).
#
# Idempotent: if an agent already answers on <addr>/v1/status/leader with a leader,
# nothing is started (the ACL variant still makes sure the token file is valid).
# The agent runs detached (setsid/nohup) and survives the calling shell.
#
# Env:
#   BERTH_NOMAD_ACL=1     start the ACL agent instead of the main one
#   BERTH_NOMAD_BIN       nomad binary to use (default: output of scripts/setup-nomad.sh)
#   BERTH_CACHE_DIR       cache root (default: $HOME/.cache/berth)
#   BERTH_NOMAD_WAIT      seconds to wait for leader, and again for node readiness (default 60)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"
WAIT="${BERTH_NOMAD_WAIT:-60}"
SHARED_HCL="$SCRIPT_DIR/nomad-dev.hcl"

if [[ "${BERTH_NOMAD_ACL:-0}" == "1" ]]; then
  FLAVOR=acl
  NODE_NAME=berth-acl
  RUN_DIR="$CACHE_ROOT/nomad-acl"
  HTTP_PORT=4746 RPC_PORT=4747 SERF_PORT=4748
  DYN_MIN=26000 DYN_MAX=31999
else
  FLAVOR=main
  NODE_NAME=berth-dev
  RUN_DIR="$CACHE_ROOT/nomad-run"
  HTTP_PORT=4646 RPC_PORT=4647 SERF_PORT=4648
  DYN_MIN=20000 DYN_MAX=25999
fi
ADDR="http://127.0.0.1:$HTTP_PORT"
DATA_DIR="$RUN_DIR/data"
LOG_FILE="$RUN_DIR/nomad.log"
PID_FILE="$RUN_DIR/nomad.pid"
OVERLAY="$RUN_DIR/agent.hcl"
TOKEN_FILE="$RUN_DIR/token"

log() { printf '[start-nomad:%s] %s\n' "$FLAVOR" "$*" >&2; }
die() { printf '[start-nomad:%s] ERROR: %s\n' "$FLAVOR" "$*" >&2; exit 1; }

command -v curl >/dev/null 2>&1 || die "curl is required"

# Prints the current leader ("127.0.0.1:4647") or nothing; non-zero if the agent does not answer.
leader() {
  local body
  body="$(curl -fsS --max-time 2 "$ADDR/v1/status/leader" 2>/dev/null)" || return 1
  body="${body//\"/}"
  printf '%s' "$body"
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

is_our_agent() { # pid — is it a `nomad agent` process?
  pid_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'nomad.* agent'
}

resolve_bin() {
  if [[ -n "${BERTH_NOMAD_BIN:-}" ]]; then
    NOMAD_BIN="$BERTH_NOMAD_BIN"
  else
    NOMAD_BIN="$("$SCRIPT_DIR/setup-nomad.sh" </dev/null | tail -n1)"
  fi
  [[ -x "$NOMAD_BIN" ]] || die "nomad binary not found/executable: $NOMAD_BIN"
}

# ---- ACL bootstrap (ACL agent only) -----------------------------------------------------
token_valid() {
  [[ -s "$TOKEN_FILE" ]] || return 1
  local code
  code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
    -H "X-Nomad-Token: $(cat "$TOKEN_FILE")" "$ADDR/v1/acl/token/self" 2>/dev/null)" || return 1
  [[ "$code" == "200" ]]
}

acl_bootstrap() {
  if token_valid; then
    log "ACL management token OK: $TOKEN_FILE"
    return 0
  fi
  local out secret reset_idx
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    if out="$("$NOMAD_BIN" acl bootstrap -address="$ADDR" -t '{{.SecretID}}' 2>&1 </dev/null)"; then
      secret="$(tr -d '[:space:]' <<<"$out")"
      [[ "$secret" =~ ^[0-9a-f-]{36}$ ]] || die "unexpected output of nomad acl bootstrap: $out"
      (umask 077 && printf '%s\n' "$secret" >"$TOKEN_FILE.tmp" && mv -f "$TOKEN_FILE.tmp" "$TOKEN_FILE")
      rm -f "$DATA_DIR/server/acl-bootstrap-reset"
      log "ACL bootstrapped; management token saved to $TOKEN_FILE"
      token_valid || die "freshly bootstrapped token is rejected?!"
      return 0
    fi
    # Already bootstrapped (persistent data_dir) but we lost/invalidated the token:
    # use Nomad's documented reset procedure (<data_dir>/server/acl-bootstrap-reset).
    reset_idx="$(sed -n 's/.*reset index: \([0-9]\+\).*/\1/p' <<<"$out" | head -n1)"
    if [[ -n "$reset_idx" ]]; then
      log "ACL already bootstrapped and no valid token on file; resetting bootstrap (index $reset_idx)"
      printf '%s\n' "$reset_idx" >"$DATA_DIR/server/acl-bootstrap-reset"
      continue
    fi
    # Typically "No cluster leader" / not yet ready: retry.
    log "acl bootstrap not possible yet ($(head -n1 <<<"$out")); retrying"
    sleep 2
  done
  die "nomad acl bootstrap failed: $out"
}

# ---- 1. Already running? -----------------------------------------------------------------
if L="$(leader)" && [[ -n "$L" ]]; then
  log "a Nomad agent already answers on $ADDR (leader $L); not starting another"
  if [[ "$FLAVOR" == acl ]]; then
    resolve_bin
    acl_bootstrap
  fi
  echo "NOMAD_ADDR=$ADDR"
  exit 0
fi

mkdir -p "$RUN_DIR" "$DATA_DIR"
# Serialise concurrent starters of the same agent. (fd 9 is closed for the agent below.)
if command -v flock >/dev/null 2>&1; then
  exec 9>"$RUN_DIR/.start.lock"
  flock 9
fi

resolve_bin
log "using $("$NOMAD_BIN" version | head -n1) at $NOMAD_BIN"

# ---- 2. Launch (unless an agent process of ours is already starting) ---------------------
OLD_PID="$(cat "$PID_FILE" 2>/dev/null || true)"
if is_our_agent "$OLD_PID"; then
  log "agent pid $OLD_PID (from $PID_FILE) is already running (still starting, or started by a concurrent call); waiting for it"
  PID="$OLD_PID"
else
  [[ -z "$OLD_PID" ]] || log "removing stale pid file (pid $OLD_PID not running)"
  rm -f "$PID_FILE"
  if curl -s -o /dev/null --max-time 2 "$ADDR/" 2>/dev/null; then
    die "something already listens on $ADDR but has no Nomad leader; not starting a second agent"
  fi

  {
    echo "# Generated by scripts/start-nomad.sh — per-agent overlay on top of scripts/nomad-dev.hcl"
    echo "name       = \"$NODE_NAME\""
    echo "datacenter = \"dc1\""
    echo "data_dir   = \"$DATA_DIR\""
    echo "bind_addr  = \"127.0.0.1\""
    echo "ports {"
    echo "  http = $HTTP_PORT"
    echo "  rpc  = $RPC_PORT"
    echo "  serf = $SERF_PORT"
    echo "}"
    echo "server {"
    echo "  enabled          = true"
    echo "  bootstrap_expect = 1"
    echo "}"
    echo "client {"
    echo "  enabled          = true"
    echo "  min_dynamic_port = $DYN_MIN"
    echo "  max_dynamic_port = $DYN_MAX"
    echo "}"
    if [[ "$FLAVOR" == acl ]]; then
      echo "acl {"
      echo "  enabled = true"
      echo "}"
    fi
  } >"$OVERLAY"

  log "starting agent: ports $HTTP_PORT/$RPC_PORT/$SERF_PORT, data $DATA_DIR, log $LOG_FILE"
  printf '\n==== %s start-nomad.sh (%s) ====\n' "$(date -u +%FT%TZ)" "$FLAVOR" >>"$LOG_FILE"
  # setsid: own session, so it survives the calling shell/CI step; the inner bash
  # records its own pid and then execs nomad (same pid).
  # shellcheck disable=SC2016  # $$/$0/$@ are meant for the inner bash
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    "$NOMAD_BIN" agent \
      -config "$SHARED_HCL" -config "$OVERLAY" \
      -bind 127.0.0.1 -network-interface lo -data-dir "$DATA_DIR" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  for _ in $(seq 1 50); do [[ -s "$PID_FILE" ]] && break; sleep 0.1; done
  PID="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$PID" ]] || die "agent did not write its pid file; see $LOG_FILE"
  log "agent pid $PID"
fi

fail_with_log() {
  log "----- last 40 lines of $LOG_FILE -----"
  tail -n 40 "$LOG_FILE" >&2 || true
  die "$1"
}

# ---- 3. Wait for a leader ----------------------------------------------------------------
deadline=$((SECONDS + WAIT))
until L="$(leader)" && [[ -n "$L" ]]; do
  pid_alive "$PID" || fail_with_log "agent (pid $PID) exited during startup"
  ((SECONDS < deadline)) || fail_with_log "no leader on $ADDR after ${WAIT}s"
  sleep 1
done
log "leader elected: $L"

NOMAD_TOKEN_ARGS=() CURL_TOKEN_ARGS=()
if [[ "$FLAVOR" == acl ]]; then
  acl_bootstrap
  NOMAD_TOKEN_ARGS=(-token "$(cat "$TOKEN_FILE")")
  CURL_TOKEN_ARGS=(-H "X-Nomad-Token: $(cat "$TOKEN_FILE")")
fi

# Has this agent process's client registered with the server yet? After a restart the
# server still reports the node "ready" from persisted state before the client has
# re-registered (it can take ~20 s: the first attempts get "Permission denied" until
# the keyring is loaded). heartbeat_ttl stays "0s" until a Register/heartbeat succeeds.
client_registered() {
  local body ttl
  body="$(curl -fsS --max-time 3 "${CURL_TOKEN_ARGS[@]}" "$ADDR/v1/agent/self" 2>/dev/null)" || return 1
  ttl="$(grep -o '"heartbeat_ttl":"[^"]*"' <<<"$body" | head -n1 | cut -d'"' -f4)"
  [[ -n "$ttl" && "$ttl" != "0s" ]]
}

# ---- 4. Wait for the local node to be ready with raw_exec (and ideally docker) healthy ----
# shellcheck disable=SC2016  # Go template, not shell
TEMPLATE='{{.Status}}|{{range $k, $v := .Drivers}}{{$k}}={{if $v.Healthy}}healthy{{else if $v.Detected}}unhealthy{{else}}undetected{{end}}:{{$v.HealthDescription}};{{end}}'
deadline=$((SECONDS + WAIT))
docker_grace=0
status="" drivers=""
while :; do
  pid_alive "$PID" || fail_with_log "agent (pid $PID) exited while waiting for the node"
  if client_registered && out="$("$NOMAD_BIN" node status -address="$ADDR" "${NOMAD_TOKEN_ARGS[@]}" -self -t "$TEMPLATE" 2>/dev/null </dev/null)"; then
    status="${out%%|*}"
    drivers="${out#*|}"
    if [[ "$status" == ready && "$drivers" == *"raw_exec=healthy"* ]]; then
      [[ "$drivers" == *"docker=healthy"* ]] && break
      # docker fingerprinting may lag a few seconds behind raw_exec.
      ((docker_grace == 0)) && docker_grace=$((SECONDS + 15))
      ((SECONDS >= docker_grace)) && break
    fi
  fi
  ((SECONDS < deadline)) || fail_with_log "client not registered / node not ready with raw_exec healthy after ${WAIT}s (status='$status' drivers='$drivers')"
  sleep 1
done

healthy="" others=""
IFS=';' read -ra entries <<<"$drivers"
for e in "${entries[@]}"; do
  [[ -n "$e" ]] || continue
  name="${e%%=*}" rest="${e#*=}"
  state="${rest%%:*}" desc="${rest#*:}"
  if [[ "$state" == healthy ]]; then healthy+="$name "; else others+="$name($state${desc:+: $desc}) "; fi
done
healthy="${healthy% }" others="${others% }"
log "node $NODE_NAME ready; healthy drivers: ${healthy:-none}"
[[ -z "$others" ]] || log "not available: $others"
if [[ "$drivers" != *"docker=healthy"* ]]; then
  log "WARNING: docker driver is not healthy — docker-based tests will be skipped/fail"
fi
log "agent ready at $ADDR (pid $PID, log $LOG_FILE)"
[[ "$FLAVOR" != acl ]] || log "management token: $TOKEN_FILE"
echo "NOMAD_ADDR=$ADDR"
