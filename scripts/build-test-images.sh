#!/usr/bin/env bash
# Build the local Docker images used by Berth's integration tests.
#
# No Docker registry is reachable from CI / dev sandboxes, so nothing is ever
# pulled: every image is assembled from Debian packages and fed to
# `docker import`.
#
#   berth-test/busybox:1  busybox-static + one symlink per applet, /tmp, /data,
#                         /etc/passwd + /etc/group (root, nobody). CMD /bin/sh.
#   berth-test/nosh:1     ONLY /bin/busybox: no applet links, no /bin/sh.
#                         Used to test the one-shot exec fallback.
#   berth-test/debian:12  debootstrap --variant=minbase bookworm (+procps);
#                         rootfs tarball cached under $HOME/.cache/berth/images/
#                         so it is built once per machine (~1 min the first
#                         time on the reference sandbox). Skip: BERTH_BUILD_DEBIAN=0.
#
# Idempotent: images that already exist are skipped. BERTH_REBUILD=1 forces a
# rebuild of everything. All images carry the label berth.test=1
# (`docker images --filter label=berth.test=1`).
#
# Requires a running daemon: run scripts/setup-docker.sh first.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_SUSPEND=1

REBUILD="${BERTH_REBUILD:-0}"
# unset = build it but only warn on failure; 1 = must succeed; 0 = skip
BUILD_DEBIAN="${BERTH_BUILD_DEBIAN:-auto}"
CACHE_DIR="${HOME}/.cache/berth/images"
DEBIAN_MIRROR="${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

log() { printf '[build-test-images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (or have sudo)"
  SUDO="sudo -n"
fi

docker info >/dev/null 2>&1 || die "docker daemon not reachable; run scripts/setup-docker.sh first"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

should_build() {
  local ref="$1"
  if [ "$REBUILD" != "1" ] && image_exists "$ref"; then
    log "$ref already present, skipping"
    return 1
  fi
  return 0
}

apt_install() {
  # Wait for a concurrent apt/dpkg instead of failing on the lock.
  local i
  for i in $(seq 1 60); do
    if $SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@"; then
      return 0
    fi
    log "apt-get install $* failed (attempt $i); refreshing package lists and retrying"
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q || true
    sleep 5
  done
  die "could not install $*"
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/berth-images.XXXXXX")"
cleanup() { $SUDO rm -rf "$WORK"; }
trap cleanup EXIT

# A usable busybox must be the *static* build (the images contain no libc) and
# must really be busybox: on a shared dev box the host's /usr/bin/busybox was
# once clobbered through a hard link (a Nomad exec-driver chroot) with a
# 40-byte script that re-execs itself forever - hence the ELF check and the
# timeout.
is_static_busybox() {
  local bb="$1" out
  [ -f "$bb" ] && [ -x "$bb" ] || return 1
  [ "$(head -c4 "$bb" | od -An -c | tr -d ' \n')" = '177ELF' ] || return 1
  if ldd "$bb" >/dev/null 2>&1; then return 1; fi   # dynamically linked
  out="$(timeout 5 "$bb" --list-full 2>/dev/null)" || return 1
  grep -qx 'bin/sh' <<<"$out"
}

find_busybox() {
  local bb
  for bb in /usr/bin/busybox /bin/busybox; do
    if is_static_busybox "$bb"; then echo "$bb"; return 0; fi
  done
  # Not installed (or broken): unpack Debian's busybox-static .deb into the
  # cache instead of touching the host (no root needed, survives reboots).
  local dir="$HOME/.cache/berth/busybox-static"
  if ! is_static_busybox "$dir/bin/busybox"; then
    log "no usable static busybox on the host; fetching busybox-static .deb"
    command -v apt-get >/dev/null 2>&1 || return 1
    if ! (cd "$WORK" && apt-get download busybox-static >&2); then
      $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || true
      (cd "$WORK" && apt-get download busybox-static >&2) || return 1
    fi
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb -x "$WORK"/busybox-static_*.deb "$dir" || return 1
    [ -e "$dir/bin/busybox" ] || { mkdir -p "$dir/bin"; cp "$dir/usr/bin/busybox" "$dir/bin/busybox"; }
  fi
  is_static_busybox "$dir/bin/busybox" && echo "$dir/bin/busybox"
}

BUSYBOX="$(find_busybox)" || die "could not find or fetch a static busybox (busybox-static)"
BB_VERSION="$("$BUSYBOX" 2>&1 | awk 'NR == 1 { print $2 }')"  # awk reads all input: head would SIGPIPE busybox under pipefail
log "using $BUSYBOX ($BB_VERSION)"

# tar a rootfs dir (owned by root, numeric ids) into `docker import`.
# Imports under "<ref>-wip"; promote() retags it once the smoke tests pass, so
# a half-verified image is never mistaken for a good one on the next run.
import_rootfs() {
  local dir="$1" ref="$2"; shift 2
  $SUDO tar -C "$dir" --numeric-owner --owner=0 --group=0 -cf - . \
    | docker import --change 'LABEL berth.test=1' --change "ENV $PATH_ENV" "$@" - "$ref-wip" >/dev/null
  log "imported $ref-wip"
}

promote() {
  docker tag "$1-wip" "$1"
  docker rmi "$1-wip" >/dev/null
  # a rebuild leaves the previous image dangling; drop it (only ours)
  docker image prune -f --filter label=berth.test=1 >/dev/null 2>&1 || true
  log "$1 OK"
}

fail_build() {
  docker rmi "$1-wip" >/dev/null 2>&1 || true
  die "$1: $2"
}

# --------------------------------------------------------------------------
# berth-test/busybox:1
# --------------------------------------------------------------------------
build_busybox() {
  local ref="berth-test/busybox:1" root="$WORK/busybox"
  should_build "$ref" || return 0
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,data,var/tmp,run,home,dev,proc,sys}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
  chmod 777 "$root/data"  # writable for tests that run as nobody
  install -m 0755 "$BUSYBOX" "$root/bin/busybox"

  # `busybox --install -s` layout: one absolute symlink per applet at the
  # path busybox itself suggests (bin/, sbin/, usr/bin/, usr/sbin/).
  local p name
  while IFS= read -r p; do
    case "$p" in
      */*) ;;            # normal entry, e.g. usr/bin/setsid
      *) continue ;;     # 'linuxrc' (initramfs-only) has no directory
    esac
    name="${p##*/}"
    [ "$name" = busybox ] && continue
    mkdir -p "$root/${p%/*}"
    ln -sfn /bin/busybox "$root/$p"
  done < <("$BUSYBOX" --list-full)
  # Also make every applet reachable as /bin/<applet>, so scripts that use
  # absolute /bin paths (e.g. /bin/setsid, /bin/head) work regardless of where
  # busybox files it.
  while IFS= read -r name; do
    [ "$name" = busybox ] && continue
    [ -e "$root/bin/$name" ] || [ -L "$root/bin/$name" ] || ln -s /bin/busybox "$root/bin/$name"
  done < <("$BUSYBOX" --list)

  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
EOF
  chmod 644 "$root/etc/passwd" "$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"

  import_rootfs "$root" "$ref" \
    --change 'CMD ["/bin/sh"]' \
    --change "LABEL berth.test.busybox=$BB_VERSION"

  # Smoke test: the applets the test-suite relies on must all resolve.
  docker run --rm "$ref-wip" sh -c 'echo ok; setsid --help >/dev/null 2>&1; kill -l >/dev/null' | grep -qx ok \
    || fail_build "$ref" "smoke test failed"
  docker run --rm "$ref-wip" sh -c '
    for a in sh ash setsid kill ps cat head tail dd base64 tar mkdir rm sleep od; do
      command -v "$a" >/dev/null || { echo "missing applet: $a" >&2; exit 1; }
    done
    # process-group kill: setsid child + kill -TERM -PGID.
    # NB: busybox 1.35 kill (builtin and applet) does NOT understand "--":
    # `kill -TERM -- -PGID` still signals the group but prints
    # "invalid number '--'" and exits 1. Use `kill -TERM -PGID`.
    setsid sleep 300 & pid=$!; sleep 0.2
    kill -TERM -"$pid" && wait "$pid" 2>/dev/null; [ $? -eq 143 ] || { echo "pgroup kill failed" >&2; exit 1; }
    echo hi | base64 | base64 -d | grep -qx hi
    [ "$(stat -c %a /tmp)" = 1777 ]
  ' || fail_build "$ref" "applet check failed"
  promote "$ref"
}

# --------------------------------------------------------------------------
# berth-test/nosh:1 — deliberately no shell
# --------------------------------------------------------------------------
build_nosh() {
  local ref="berth-test/nosh:1" root="$WORK/nosh"
  should_build "$ref" || return 0
  mkdir -p "$root/bin"
  install -m 0755 "$BUSYBOX" "$root/bin/busybox"
  # No CMD on purpose: callers must give an explicit argv.
  import_rootfs "$root" "$ref" --change "LABEL berth.test.busybox=$BB_VERSION"

  [ "$(docker run --rm "$ref-wip" /bin/busybox echo hi)" = hi ] || fail_build "$ref" "busybox echo failed"
  if docker run --rm "$ref-wip" sh -c 'echo should-not-run' >/dev/null 2>&1; then
    fail_build "$ref" "'sh' unexpectedly works"
  fi
  promote "$ref"
}

# --------------------------------------------------------------------------
# berth-test/debian:12 — optional (BERTH_BUILD_DEBIAN=0 skips it)
# --------------------------------------------------------------------------
build_debian() {
  local ref="berth-test/debian:12"
  local tarball="$CACHE_DIR/debian-bookworm-minbase-procps.tar"
  should_build "$ref" || return 0
  mkdir -p "$CACHE_DIR"
  if [ "$REBUILD" = "1" ] || [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    # Non-Debian hosts (e.g. Ubuntu CI runners) lack Debian's archive key.
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -s "$keyring" ] || apt_install debian-archive-keyring
    local root="$WORK/debian" t0=$SECONDS
    log "debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR (one-off, cached)"
    $SUDO debootstrap --variant=minbase --include=procps --keyring="$keyring" bookworm "$root" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
      || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    # Slim it down: no apt lists / caches / docs in a test image.
    $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
    $SUDO mkdir -p "$root/data"
    $SUDO chmod 777 "$root/data"
    $SUDO tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    $SUDO mv "$tarball.tmp" "$tarball"
    log "debian rootfs built in $((SECONDS - t0))s -> $tarball"
  else
    log "using cached rootfs $tarball"
  fi
  docker import --change 'LABEL berth.test=1' --change "ENV $PATH_ENV" \
    --change 'CMD ["/bin/bash"]' "$tarball" "$ref-wip" >/dev/null
  [ "$(docker run --rm "$ref-wip" sh -c 'ps -o pid= -p 1 >/dev/null && echo ok')" = ok ] || fail_build "$ref" "smoke test failed"
  promote "$ref"
}

build_busybox
build_nosh
if [ "$BUILD_DEBIAN" = "1" ]; then
  build_debian
elif [ "$BUILD_DEBIAN" != "0" ]; then
  # optional image: a failure here (mirror down, ...) must not break CI
  ( build_debian ) || log "WARNING: berth-test/debian:12 not built (optional; BERTH_BUILD_DEBIAN=1 makes this fatal)"
else
  log "skipping berth-test/debian:12 (BERTH_BUILD_DEBIAN=0)"
fi

docker images --filter label=berth.test=1 --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}'
