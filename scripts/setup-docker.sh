#!/usr/bin/env bash
# Make sure a Docker daemon is reachable, for Berth's integration tests.
#
#  * If `docker info` already answers: exit 0, touch nothing.
#  * Otherwise install Debian's docker.io if `dockerd` is missing, probe what
#    this (possibly container-like / VM sandbox) machine supports, and start
#    `dockerd` detached with the flags that work.
#
# Safe to re-run; non-interactive (CI=true, no stdin). Needs root or sudo -n.
#
# Overrides (normally not needed):
#   BERTH_DOCKER_STORAGE_DRIVER  force a storage driver (overlay2|fuse-overlayfs|vfs)
#   BERTH_DOCKER_EXTRA_FLAGS     extra dockerd flags appended verbatim
#   BERTH_DOCKER_WAIT            seconds to wait for the daemon (default 60)
#   BERTH_DOCKER_BTRFS_LOOP=20G  opt-in: put the data-root on a sparse loopback
#                                btrfs image (/var/lib/berth/docker-btrfs.img,
#                                mounted on /var/lib/docker-btrfs) and use the
#                                btrfs storage driver, so that
#                                `docker run --storage-opt size=1G` works (it is
#                                refused with overlay2 unless on xfs+pquota, and
#                                the reference kernel has no XFS quota support).
#                                Only applies when this script starts dockerd;
#                                images must be rebuilt in the new data-root.
#
# Files: $HOME/.cache/berth/dockerd.log   daemon log
#        $HOME/.cache/berth/dockerd.pid   daemon pid file
#        $HOME/.cache/berth/dockerd.flags flags used by the last start
#
# What was found on the reference sandbox (Firecracker VM, Debian 12, kernel
# 6.18, no systemd as PID 1, docker.io 20.10.24, runc 1.1.5):
#   - storage: overlay2 on ext4 works (overlay probe mount succeeds; d_type ok)
#   - iptables: default iptables-nft works (nat table usable) -> keep iptables
#   - bridge/veth: kernel has both -> default docker0 bridge networking works
#   - cgroups: hybrid v1 (+ empty cgroup2 at /sys/fs/cgroup/unified); docker
#     reports "Cgroup Version: 1". cgroupfs driver (no systemd to talk to);
#     --memory, --pids-limit, --cpus all enforced (OOM kill observed).
#   - eth0 MTU is 1400 -> docker0 MTU lowered to match.
# i.e. the probes below end up with:
#   dockerd --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs --mtu=1400
# and only fall back (vfs / fuse-overlayfs, iptables-legacy or --iptables=false,
# --bridge=none, cgroup v2 nesting) where a probe fails on another machine.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_SUSPEND=1   # no needrestart prompts/noise from apt hooks

STATE_DIR="${HOME}/.cache/berth"
LOG_FILE="$STATE_DIR/dockerd.log"
PID_FILE="$STATE_DIR/dockerd.pid"
FLAGS_FILE="$STATE_DIR/dockerd.flags"
WAIT_SECS="${BERTH_DOCKER_WAIT:-60}"

log() { printf '[setup-docker] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (or have passwordless sudo)"
  SUDO="sudo -n"
fi

docker_ok() { timeout 10 docker info >/dev/null 2>&1 </dev/null; }

summary() {
  local drv cg
  drv="$(docker info -f '{{.Driver}}' 2>/dev/null || echo '?')"
  cg="$(docker info -f '{{.CgroupVersion}} ({{.CgroupDriver}} driver)' 2>/dev/null || echo '?')"
  echo "storage driver: $drv"
  echo "cgroup version: $cg"
  docker info -f 'limits: memory={{.MemoryLimit}} swap={{.SwapLimit}} pids={{.PidsLimit}} cpu-cfs-quota={{.CPUCfsQuota}}' 2>/dev/null || true
}

if docker_ok; then
  log "docker daemon already reachable"
  summary
  exit 0
fi

command -v docker >/dev/null 2>&1 || NEED_CLI=1

# ---------------------------------------------------------------------------
# 1. Install docker.io if dockerd is missing.
# ---------------------------------------------------------------------------
apt_get() {
  # Wait politely if another apt/dpkg holds the lock (DPkg::Lock::Timeout covers
  # the dpkg frontend lock; the retry loop also covers the lists lock of
  # `apt-get update`).
  local i
  for i in $(seq 1 40); do
    if $SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
        apt-get -o DPkg::Lock::Timeout=600 -q "$@" </dev/null; then
      return 0
    fi
    log "apt-get $* failed (attempt $i/40; lock held by another apt?); retrying in 15s"
    sleep 15
  done
  return 1
}

if ! command -v dockerd >/dev/null 2>&1 || [ "${NEED_CLI:-0}" = 1 ]; then
  command -v apt-get >/dev/null 2>&1 || die "dockerd missing and no apt-get to install it"
  log "dockerd not found: installing docker.io from Debian"
  apt_get update
  # docker.io ships dockerd + docker CLI + containerd + runc (+ tini as docker-init).
  apt_get install -y --no-install-recommends docker.io iptables ca-certificates \
    || die "apt-get install docker.io failed"
  hash -r
  command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd still not on PATH"
  # On a systemd host the package's postinst may already have started it.
  sleep 2
  if docker_ok; then log "docker started by the package"; summary; exit 0; fi
fi

# ---------------------------------------------------------------------------
# 2. Is a dockerd already running (still starting, or started by us before)?
# ---------------------------------------------------------------------------
mkdir -p "$STATE_DIR"

wait_for_docker() {
  local i
  for i in $(seq 1 "$WAIT_SECS"); do
    docker_ok && return 0
    if [ -n "${1:-}" ] && ! kill -0 "$1" 2>/dev/null; then
      return 1   # our dockerd died
    fi
    sleep 1
  done
  return 1
}

# pid file from an earlier run; ignore it if that pid is gone or was reused.
pid_is_dockerd() { [ -n "${1:-}" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = dockerd ]; }
if [ -s "$PID_FILE" ] && pid_is_dockerd "$(cat "$PID_FILE")"; then
  log "dockerd (pid $(cat "$PID_FILE")) already running; waiting for it"
  if wait_for_docker "$(cat "$PID_FILE")"; then summary; exit 0; fi
  die "dockerd pid $(cat "$PID_FILE") is running but not answering; see $LOG_FILE"
fi
if pgrep -x dockerd >/dev/null 2>&1; then
  log "a dockerd not started by this script is running; waiting for it"
  if wait_for_docker; then summary; exit 0; fi
  die "existing dockerd (pid $(pgrep -x dockerd | tr '\n' ' ')) does not answer 'docker info'"
fi

# Prefer the init system on a real systemd host: it owns cgroups there.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  log "systemd is running: trying 'systemctl start docker'"
  if $SUDO systemctl start docker 2>/dev/null && wait_for_docker; then summary; exit 0; fi
  log "systemctl start docker did not work; starting dockerd by hand"
fi

# ---------------------------------------------------------------------------
# 3. Probe the machine.
# ---------------------------------------------------------------------------
FLAGS=()
DAEMON_JSON=/etc/docker/daemon.json
# dockerd refuses a flag that is also set in daemon.json, so don't duplicate.
in_daemon_json() { [ -f "$DAEMON_JSON" ] && grep -q "\"$1\"" "$DAEMON_JSON"; }
add_flag() {  # add_flag <daemon.json key> <flag...>
  local key="$1"; shift
  if in_daemon_json "$key"; then log "  ($key set in $DAEMON_JSON, not passing $*)"; else FLAGS+=("$@"); fi
}

DATA_ROOT=/var/lib/docker
$SUDO mkdir -p "$DATA_ROOT"

# 3a. Storage driver. overlay2 needs a real overlay mount on the data-root's
# filesystem (fails e.g. when /var/lib/docker itself is overlayfs, as in
# docker-in-docker without a volume). Probe with an actual mount.
probe_overlay() {
  local d rc=1
  d="$($SUDO mktemp -d "$DATA_ROOT/.berth-overlay-probe.XXXXXX")"
  $SUDO mkdir -p "$d/lower" "$d/upper" "$d/work" "$d/merged"
  echo probe | $SUDO tee "$d/lower/f" >/dev/null
  if $SUDO mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/merged" 2>/dev/null; then
    # write through the overlay (copy-up) to be sure it is usable
    if echo x | $SUDO tee -a "$d/merged/f" >/dev/null 2>&1; then rc=0; fi
    $SUDO umount "$d/merged" || true
  fi
  $SUDO rm -rf "$d"
  return $rc
}

STORAGE="${BERTH_DOCKER_STORAGE_DRIVER:-}"
if [ -n "${BERTH_DOCKER_BTRFS_LOOP:-}" ]; then
  BTRFS_IMG=/var/lib/berth/docker-btrfs.img
  BTRFS_MNT=/var/lib/docker-btrfs
  command -v mkfs.btrfs >/dev/null 2>&1 || apt_get install -y --no-install-recommends btrfs-progs \
    || die "cannot install btrfs-progs"
  if ! mountpoint -q "$BTRFS_MNT"; then
    $SUDO mkdir -p "${BTRFS_IMG%/*}" "$BTRFS_MNT"
    if [ ! -s "$BTRFS_IMG" ]; then
      log "creating sparse ${BERTH_DOCKER_BTRFS_LOOP} btrfs image $BTRFS_IMG"
      $SUDO truncate -s "$BERTH_DOCKER_BTRFS_LOOP" "$BTRFS_IMG"
      $SUDO mkfs.btrfs -q -f "$BTRFS_IMG" >/dev/null
    fi
    $SUDO mount -o loop "$BTRFS_IMG" "$BTRFS_MNT" || die "cannot loop-mount $BTRFS_IMG (no loop/btrfs support?)"
  fi
  DATA_ROOT="$BTRFS_MNT"
  STORAGE=btrfs   # the btrfs driver enforces --storage-opt size via qgroups
  add_flag data-root "--data-root=$DATA_ROOT"
elif [ -z "$STORAGE" ]; then
  if probe_overlay; then
    STORAGE=overlay2
  elif command -v fuse-overlayfs >/dev/null 2>&1 && [ -e /dev/fuse ]; then
    STORAGE=fuse-overlayfs
  else
    # vfs always works but copies every layer in full (slow, disk-hungry) -
    # acceptable for the few-MB busybox test images.
    STORAGE=vfs
  fi
fi
log "storage driver: $STORAGE"
add_flag storage-driver "--storage-driver=$STORAGE"

# 3b. cgroups. v1 (or hybrid) vs unified v2.
CGROUP_VERSION=none
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
  CGROUP_VERSION=2
elif [ -d /sys/fs/cgroup/memory ] || grep -q ' cgroup ' /proc/mounts 2>/dev/null; then
  CGROUP_VERSION=1
fi
if [ "$CGROUP_VERSION" = none ]; then
  # Bare container without /sys/fs/cgroup: mount the unified hierarchy.
  log "no cgroup filesystem mounted; mounting cgroup2 on /sys/fs/cgroup"
  $SUDO mkdir -p /sys/fs/cgroup
  $SUDO mount -t cgroup2 cgroup2 /sys/fs/cgroup || die "cannot mount cgroup2"
  CGROUP_VERSION=2
fi
if [ "$CGROUP_VERSION" = 2 ] && [ ! -d /run/systemd/system ]; then
  # cgroup v2 without systemd (e.g. inside a CI container): the "no internal
  # processes" rule stops dockerd from enabling controllers for children while
  # processes sit in the root cgroup. Same trick as moby's hack/dind: move
  # everything into /init and enable all controllers in subtree_control.
  if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -z "$(cat /sys/fs/cgroup/cgroup.subtree_control)" ]; then
    log "cgroup v2 root has no delegated controllers; nesting processes into /init (dind style)"
    $SUDO mkdir -p /sys/fs/cgroup/init
    # shellcheck disable=SC2002
    $SUDO sh -c 'xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs' 2>/dev/null || true
    $SUDO sh -c 'sed -e "s/ / +/g" -e "s/^/+/" < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control' \
      || log "  could not enable cgroup v2 controllers; resource limits may not work"
  fi
fi
# cgroupfs driver: dockerd is not a systemd unit here, so there is no systemd
# to delegate to (the systemd driver needs systemd as PID 1 + dbus).
log "cgroup version: $CGROUP_VERSION (driver cgroupfs)"
add_flag exec-opts --exec-opt native.cgroupdriver=cgroupfs

# 3c. Networking. Docker's default bridge needs bridge + veth in the kernel and
# a working iptables (nat table) for port publishing / masquerade.
NET_PROBE_OK=1
if $SUDO ip link add berthprobe0 type bridge 2>/dev/null; then
  $SUDO ip link del berthprobe0 2>/dev/null || true
else
  NET_PROBE_OK=0; log "cannot create a bridge interface"
fi
if [ "$NET_PROBE_OK" = 1 ]; then
  if $SUDO ip link add berthprobev0 type veth peer name berthprobev1 2>/dev/null; then
    $SUDO ip link del berthprobev0 2>/dev/null || true
  else
    NET_PROBE_OK=0; log "cannot create veth pairs"
  fi
fi
if [ "$NET_PROBE_OK" = 0 ]; then
  # Containers get only a loopback interface; exec/logs/files still work.
  log "networking: --bridge=none (no bridge/veth support)"
  add_flag bridge --bridge=none
  add_flag iptables --iptables=false
else
  DOCKERD_PATH="$PATH"
  if command -v iptables >/dev/null 2>&1 && $SUDO iptables -t nat -nL >/dev/null 2>&1 \
      && $SUDO iptables -t filter -nL >/dev/null 2>&1; then
    log "iptables: $(iptables --version 2>/dev/null) works"
  elif command -v iptables-legacy >/dev/null 2>&1 && $SUDO iptables-legacy -t nat -nL >/dev/null 2>&1; then
    # nf_tables missing (older/trimmed kernels): give dockerd a PATH where
    # iptables* is the legacy backend, without changing the system alternative.
    SHIM="$STATE_DIR/iptables-legacy-bin"
    mkdir -p "$SHIM"
    for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
      [ -x "/usr/sbin/${t/iptables/iptables-legacy}" ] && ln -sfn "/usr/sbin/${t/iptables/iptables-legacy}" "$SHIM/$t"
    done
    DOCKERD_PATH="$SHIM:$PATH"
    log "iptables: nft backend unusable, using iptables-legacy via $SHIM"
  else
    # Containers still get an IP on docker0, but no NAT / published ports.
    log "iptables: unusable -> --iptables=false (no NAT, no -p port publishing)"
    add_flag iptables --iptables=false
  fi
  # Match docker0's MTU to the uplink (sandboxes/VMs often use < 1500).
  UPLINK="$(ip route show default 2>/dev/null | awk '/default/ {for(i=1;i<=NF;i++) if($i=="dev"){print $(i+1); exit}}')"
  if [ -n "$UPLINK" ] && [ -r "/sys/class/net/$UPLINK/mtu" ]; then
    MTU="$(cat "/sys/class/net/$UPLINK/mtu")"
    if [ "$MTU" -lt 1500 ] 2>/dev/null; then
      log "uplink $UPLINK MTU $MTU -> --mtu=$MTU"
      add_flag mtu "--mtu=$MTU"
    fi
  fi
fi

# shellcheck disable=SC2206
[ -n "${BERTH_DOCKER_EXTRA_FLAGS:-}" ] && FLAGS+=(${BERTH_DOCKER_EXTRA_FLAGS})
FLAGS+=(--pidfile "$PID_FILE")

# ---------------------------------------------------------------------------
# 4. Start dockerd detached.
# ---------------------------------------------------------------------------
start_dockerd() {
  printf '%s\n' "$*" >"$FLAGS_FILE"
  log "starting: dockerd $*"
  log "log: $LOG_FILE"
  {
    echo "=== $(date -u +%FT%TZ) dockerd $*"
  } >>"$LOG_FILE"
  # setsid + nohup: own session, survives this shell / CI step; no stdin.
  $SUDO env PATH="${DOCKERD_PATH:-$PATH}" setsid nohup dockerd "$@" </dev/null >>"$LOG_FILE" 2>&1 &
  local launcher=$!
  # pid file is written by dockerd itself once it has started
  local i pid=""
  for i in $(seq 1 "$WAIT_SECS"); do
    if docker_ok; then return 0; fi
    [ -s "$PID_FILE" ] && pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    if [ -z "$pid" ] && ! kill -0 "$launcher" 2>/dev/null; then return 1; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 1
  done
  return 1
}

# A stale pid file (dead pid) makes dockerd refuse to start on some versions.
[ -f "$PID_FILE" ] && $SUDO rm -f "$PID_FILE"

if ! start_dockerd "${FLAGS[@]}"; then
  log "dockerd did not come up; last log lines:"
  tail -n 25 "$LOG_FILE" >&2 || true
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && $SUDO kill "$pid" && sleep 3
  if [ "$STORAGE" != vfs ] && [ -z "${BERTH_DOCKER_STORAGE_DRIVER:-}${BERTH_DOCKER_BTRFS_LOOP:-}" ] \
      && grep -qiE 'driver not supported|overlay|storage-driver|graphdriver' <(tail -n 40 "$LOG_FILE"); then
    log "retrying with --storage-driver=vfs"
    for i in "${!FLAGS[@]}"; do [[ ${FLAGS[$i]} == --storage-driver=* ]] && FLAGS[$i]=--storage-driver=vfs; done
    $SUDO rm -f "$PID_FILE"
    start_dockerd "${FLAGS[@]}" || die "dockerd failed to start; see $LOG_FILE"
  else
    die "dockerd failed to start; see $LOG_FILE"
  fi
fi

log "docker daemon is up (pid $(cat "$PID_FILE" 2>/dev/null || echo '?'))"
summary
