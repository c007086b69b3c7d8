#!/usr/bin/env bash
# start-ssh-fleet.sh — a fleet of real OpenSSH "machines" for @berth/backend-ssh's tests.
#
#   scripts/start-ssh-fleet.sh     # start (idempotent: what is up stays up)
#   scripts/stop-ssh-fleet.sh      # tear everything down
#
# Each machine mN (N = 1..3) is Debian's sshd in its own network namespace `berth-ssh-mN`, joined
# to the root namespace by a veth pair (`berth-ssh-hN` here, `berth-ssh-nN` there) on 10.231.N.0/30:
# this side 10.231.N.1, the machine 10.231.N.2:22. Each sshd also runs in its own mount namespace
# with a private /srv/berth-ssh (its "disk"), so one machine's workspaces are not another's, and a
# noexec /srv/berth-ssh-noexec.
# m1 has `MaxSessions 10` (sshd's default, stated); `MaxStartups` stays at its default everywhere.
# A jump host sshd listens on 127.0.0.1:2231 in the root namespace.
#
# Generated once into $BERTH_CACHE_DIR/ssh-fleet (default ~/.cache/berth/ssh-fleet):
#   hostkeys/mN, hostkeys/jump       ed25519 host keys
#   keys/id_ed25519                  user key (authorized for `berth-ssh` and root)
#   keys/id_ecdsa_pass               user key encrypted with the passphrase in fleet.json
#   keys/id_wrong                    a key no machine authorizes
#   known_hosts, known_hosts.hashed  every machine and the jump host (plain / `ssh-keygen -H`)
#   fleet.json                       what tests read: addresses, ports, users, key paths
# The non-root user `berth-ssh` (password in fleet.json, for the explicit-password test) is created.
set -euo pipefail
CACHE="${BERTH_CACHE_DIR:-$HOME/.cache/berth}/ssh-fleet"
MACHINES=(1 2 3)
JUMP_PORT=2231
USER_NAME=berth-ssh
PASSPHRASE=berth-fleet-passphrase
PASSWORD=berth-fleet-password
STATE=/var/lib/berth-ssh-fleet
mkdir -p "$CACHE/hostkeys" "$CACHE/keys" "$CACHE/run" "$STATE"

if ! [ -x /usr/sbin/sshd ]; then
  echo "installing openssh-server"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openssh-server openssh-client iproute2 iptables >/dev/null
  # The package's own service is not ours to run.
  if [ -x /etc/init.d/ssh ]; then /etc/init.d/ssh stop >/dev/null 2>&1 || true; fi
fi
mkdir -p /run/sshd && chmod 755 /run/sshd

if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/sh "$USER_NAME"
fi
echo "$USER_NAME:$PASSWORD" | chpasswd

# Keys (generated once; a re-run keeps them so known_hosts stays valid).
for name in m1 m2 m3 jump; do
  [ -f "$CACHE/hostkeys/$name" ] || ssh-keygen -q -t ed25519 -N '' -C "berth-ssh-$name" -f "$CACHE/hostkeys/$name"
done
[ -f "$CACHE/keys/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C berth-fleet -f "$CACHE/keys/id_ed25519"
[ -f "$CACHE/keys/id_ecdsa_pass" ] ||
  ssh-keygen -q -t ecdsa -b 256 -N "$PASSPHRASE" -C berth-fleet-pass -f "$CACHE/keys/id_ecdsa_pass"
[ -f "$CACHE/keys/id_wrong" ] || ssh-keygen -q -t ed25519 -N '' -C berth-wrong -f "$CACHE/keys/id_wrong"
chmod 600 "$CACHE"/keys/* "$CACHE"/hostkeys/*
chmod 644 "$CACHE"/keys/*.pub "$CACHE"/hostkeys/*.pub

# Authorized keys outside any home (homes are per machine); root-owned, so StrictModes is happy.
mkdir -p "$STATE/authorized_keys"
cat "$CACHE/keys/id_ed25519.pub" "$CACHE/keys/id_ecdsa_pass.pub" >"$STATE/authorized_keys/$USER_NAME"
cp "$STATE/authorized_keys/$USER_NAME" "$STATE/authorized_keys/root"
chmod 755 "$STATE" "$STATE/authorized_keys"
chmod 644 "$STATE"/authorized_keys/*

write_config() { # name listen-address port max-sessions
  cat >"$CACHE/run/$1.sshd_config" <<EOF
ListenAddress $2:$3
HostKey $CACHE/hostkeys/$1
PidFile $CACHE/run/$1.pid
AuthorizedKeysFile $STATE/authorized_keys/%u
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
MaxSessions $4
AllowTcpForwarding yes
AllowAgentForwarding no
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
EOF
}

alive() { [ -f "$CACHE/run/$1.pid" ] && kill -0 "$(cat "$CACHE/run/$1.pid")" 2>/dev/null; }

for n in "${MACHINES[@]}"; do
  ns="berth-ssh-m$n"
  ip netns list | grep -qx "$ns\( .*\)\?" || ip netns add "$ns"
  if ! ip link show "berth-ssh-h$n" >/dev/null 2>&1; then
    ip link add "berth-ssh-h$n" type veth peer name "berth-ssh-n$n"
    ip link set "berth-ssh-n$n" netns "$ns"
  fi
  ip addr replace "10.231.$n.1/30" dev "berth-ssh-h$n"
  ip link set "berth-ssh-h$n" up
  ip netns exec "$ns" ip addr replace "10.231.$n.2/30" dev "berth-ssh-n$n"
  ip netns exec "$ns" ip link set "berth-ssh-n$n" up
  ip netns exec "$ns" ip link set lo up
  # A test may have left a blackhole; a started fleet answers.
  ip netns exec "$ns" iptables -F INPUT 2>/dev/null || true
  max_sessions=10
  write_config "m$n" "10.231.$n.2" 22 "$max_sessions"
  mkdir -p "$STATE/m$n/srv" && chmod 1777 "$STATE/m$n/srv"
  mkdir -p /srv/berth-ssh /srv/berth-ssh-noexec
  if ! alive "m$n"; then
    # Its own mount namespace: /srv/berth-ssh is this machine's alone, and /srv/berth-ssh-noexec a
    # noexec tmpfs (where berth-agent cannot run: the plain-sh fallback's test root).
    ip netns exec "$ns" setsid unshare --mount --propagation private sh -c \
      "mount --bind '$STATE/m$n/srv' /srv/berth-ssh && mount -t tmpfs -o noexec,nosuid,mode=1777,size=64m berth-ssh-noexec /srv/berth-ssh-noexec && exec /usr/sbin/sshd -f '$CACHE/run/m$n.sshd_config' -E '$CACHE/run/m$n.log'" \
      </dev/null >/dev/null 2>&1
  fi
done
write_config jump 127.0.0.1 "$JUMP_PORT" 10
alive jump || /usr/sbin/sshd -f "$CACHE/run/jump.sshd_config" -E "$CACHE/run/jump.log"

# Wait until every sshd answers.
for target in 10.231.1.2:22 10.231.2.2:22 10.231.3.2:22 "127.0.0.1:$JUMP_PORT"; do
  for _ in $(seq 1 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/${target%:*}/${target#*:}" 2>/dev/null; then continue 2; fi
    sleep 0.1
  done
  echo "sshd at $target did not come up; see $CACHE/run/*.log" >&2
  exit 1
done

{
  for n in "${MACHINES[@]}"; do echo "10.231.$n.2 $(cut -d' ' -f1,2 "$CACHE/hostkeys/m$n.pub")"; done
  echo "[127.0.0.1]:$JUMP_PORT $(cut -d' ' -f1,2 "$CACHE/hostkeys/jump.pub")"
} >"$CACHE/known_hosts"
cp "$CACHE/known_hosts" "$CACHE/known_hosts.hashed"
ssh-keygen -q -H -f "$CACHE/known_hosts.hashed" >/dev/null 2>&1
rm -f "$CACHE/known_hosts.hashed.old"

cat >"$CACHE/fleet.json" <<EOF
{
  "user": "$USER_NAME",
  "password": "$PASSWORD",
  "root": "/srv/berth-ssh",
  "noexecRoot": "/srv/berth-ssh-noexec",
  "machines": [
    { "name": "m1", "host": "10.231.1.2", "port": 22, "namespace": "berth-ssh-m1", "link": "berth-ssh-h1", "maxSessions": 10 },
    { "name": "m2", "host": "10.231.2.2", "port": 22, "namespace": "berth-ssh-m2", "link": "berth-ssh-h2" },
    { "name": "m3", "host": "10.231.3.2", "port": 22, "namespace": "berth-ssh-m3", "link": "berth-ssh-h3" }
  ],
  "jump": { "host": "127.0.0.1", "port": $JUMP_PORT },
  "unreachable": { "host": "10.231.9.2", "port": 22 },
  "keys": {
    "plain": "$CACHE/keys/id_ed25519",
    "encrypted": "$CACHE/keys/id_ecdsa_pass",
    "passphrase": "$PASSPHRASE",
    "wrong": "$CACHE/keys/id_wrong"
  },
  "hostKeys": {
    "m1": "$CACHE/hostkeys/m1.pub", "m2": "$CACHE/hostkeys/m2.pub", "m3": "$CACHE/hostkeys/m3.pub",
    "jump": "$CACHE/hostkeys/jump.pub"
  },
  "knownHosts": "$CACHE/known_hosts",
  "knownHostsHashed": "$CACHE/known_hosts.hashed"
}
EOF
echo "ssh fleet up: $CACHE/fleet.json"
