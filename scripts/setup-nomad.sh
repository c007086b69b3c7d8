#!/usr/bin/env bash
# setup-nomad.sh — build (once) and cache a real `nomad` binary for integration tests.
#
# Usage:  scripts/setup-nomad.sh            # prints the binary path as the LAST line on stdout
#         NOMAD=$(scripts/setup-nomad.sh | tail -n1)
#
# Env:
#   BERTH_NOMAD_VERSION  Nomad version to build (default: 1.11.1; known-good fallback: 1.10.5)
#   BERTH_CACHE_DIR      cache root (default: $HOME/.cache/berth)
#   BERTH_NOMAD_FORCE=1  rebuild even if a cached binary exists
#
# How it works: HashiCorp release downloads are not reachable from our CI, only the Go
# module proxy is. `go install github.com/hashicorp/nomad@vX` refuses because nomad's go.mod
# has `replace` directives, so we create a tiny wrapper module (under the cache dir, never in
# the repo) that requires github.com/hashicorp/nomad at the wanted version and repeats its
# replace directives. The local `replace github.com/hashicorp/nomad/api => ./api` is turned
# into a replace with the api module's pseudo-version at the same commit as the release tag
# (the api dir is a nested module, so it is not inside the nomad module zip).
# Build tags mirror upstream's GNUmakefile release build minus `ui` (UI assets are not in
# the module): hashicorpmetrics codegen_generated release. CGO is enabled like upstream.
#
# All progress goes to stderr; stdout only carries the binary path (last line).
set -euo pipefail

log() { printf '[setup-nomad] %s\n' "$*" >&2; }
die() { printf '[setup-nomad] ERROR: %s\n' "$*" >&2; exit 1; }

VERSION="${BERTH_NOMAD_VERSION:-1.11.1}"
VERSION="${VERSION#v}"
CACHE_ROOT="${BERTH_CACHE_DIR:-$HOME/.cache/berth}"
NOMAD_DIR="$CACHE_ROOT/nomad/$VERSION"
BIN="$NOMAD_DIR/nomad"
BUILD_DIR="$CACHE_ROOT/nomad/build-$VERSION"
MODULE="github.com/hashicorp/nomad"

is_good_binary() {
  [[ -x "$1" ]] || return 1
  local out
  out="$("$1" version 2>/dev/null)" || return 1
  grep -q "Nomad v$VERSION" <<<"$out"
}

if [[ "${BERTH_NOMAD_FORCE:-0}" != "1" ]] && is_good_binary "$BIN"; then
  log "cached: $("$BIN" version 2>/dev/null | head -n1)"
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "go is not on PATH (need Go >= the version in nomad's go.mod, e.g. 1.25)"
mkdir -p "$NOMAD_DIR" "$BUILD_DIR"

# Serialise concurrent callers (parallel CI jobs) on one lock per version.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/nomad/.lock-$VERSION"
  log "acquiring build lock $CACHE_ROOT/nomad/.lock-$VERSION"
  flock 9
  if [[ "${BERTH_NOMAD_FORCE:-0}" != "1" ]] && is_good_binary "$BIN"; then
    log "cached (built by a concurrent caller): $BIN"
    echo "$BIN"
    exit 0
  fi
fi

START=$(date +%s)
log "building Nomad v$VERSION from the Go module proxy ($(go version))"
log "wrapper module: $BUILD_DIR"

export GIT_TERMINAL_PROMPT=0   # never prompt (CI, no stdin)

cd "$BUILD_DIR"
rm -f go.mod go.sum tools.go

# 1. Download the nomad module to read its go.mod and release metadata.
log "step 1/4: go mod download $MODULE@v$VERSION"
DL_JSON="$(GOFLAGS='' go mod download -json "$MODULE@v$VERSION" </dev/null)" \
  || die "go mod download $MODULE@v$VERSION failed: $DL_JSON"
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" <<<"$2" | head -n1; }
GOMOD_FILE="$(json_field GoMod "$DL_JSON")"
INFO_FILE="$(json_field Info "$DL_JSON")"
[[ -f "$GOMOD_FILE" && -f "$INFO_FILE" ]] || die "could not locate go.mod/info of $MODULE@v$VERSION in: $DL_JSON"
INFO="$(cat "$INFO_FILE")"
COMMIT_TIME="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' <<<"$INFO")"          # 2025-12-09T20:10:56Z
COMMIT_HASH="$(sed -n 's/.*"Hash":"\([0-9a-f]\{40\}\)".*/\1/p' <<<"$INFO")"
[[ -n "$COMMIT_TIME" && -n "$COMMIT_HASH" ]] || die "could not read commit time/hash from $INFO_FILE: $INFO"
PSEUDO_TS="$(tr -d -- '-:TZ' <<<"$COMMIT_TIME")"                             # 20251209201056
PSEUDO="v0.0.0-${PSEUDO_TS}-${COMMIT_HASH:0:12}"
GO_DIRECTIVE="$(awk '$1=="go"{print $2; exit}' "$GOMOD_FILE")"
log "nomad v$VERSION = commit $COMMIT_HASH ($COMMIT_TIME), go $GO_DIRECTIVE"

# 2. Write the wrapper module: require nomad, repeat its replace directives.
log "step 2/4: writing wrapper go.mod"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
cat >go.mod <<EOF
module berth.local/nomad-build

go ${GO_DIRECTIVE:-1.25}

require $MODULE v$VERSION
EOF
cat >tools.go <<EOF
//go:build tools

// Package tools only pins $MODULE in go.mod; the binary is built with
// \`go build $MODULE\`.
package tools

import _ "$MODULE"
EOF

# Parse `replace` directives (single-line and block form) from nomad's go.mod.
# Output: "old[@ver] new[@ver]" per line.
REPLACES="$(awk '
  { sub(/\/\/.*/, "") }
  /^replace[ \t]*\(/ { inblock=1; next }
  inblock && /^\)/   { inblock=0; next }
  /^replace[ \t]/    { sub(/^replace[ \t]+/, ""); line=$0 }
  inblock            { line=$0 }
  line != "" {
    n = split(line, f, /[ \t]+/); i = 1; while (f[i] == "" && i <= n) i++
    old = f[i++]; oldv = ""
    if (f[i] != "=>") { oldv = "@" f[i++] }
    i++  # skip =>
    nw = f[i++]; nwv = (i <= n && f[i] != "") ? "@" f[i] : ""
    print old oldv, nw nwv
    line = ""
  }' "$GOMOD_FILE")"

while read -r OLD NEW; do
  [[ -n "${OLD:-}" ]] || continue
  case "$NEW" in
    ./*|../*)
      # Local path inside the nomad repo (e.g. ./api): nested module at the same commit.
      rel="${NEW#./}"
      sub="$MODULE/$rel"
      NEW="$sub@$PSEUDO"
      # The checksum DB (sum.golang.org) only knows module versions somebody already
      # fetched; this pseudo-version is usually unknown there (404), and sum.golang.org is
      # not always reachable directly. The nomad module itself IS verified against the
      # checksum DB; only for this nested module of the same commit do we fall back to
      # trusting the module proxy.
      if ! dl_err="$(GOFLAGS='' go mod download "$NEW" 2>&1 </dev/null)"; then
        if grep -q 'verifying module\|sumdb\|checksum database' <<<"$dl_err"; then
          log "  note: $NEW unknown to the checksum DB; skipping sumdb for $sub only (GONOSUMDB)"
          export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}$sub"
          GOFLAGS='' go mod download "$NEW" </dev/null || die "cannot download $NEW from the module proxy"
        else
          die "cannot download $NEW: $dl_err"
        fi
      fi
      ;;
  esac
  log "  replace $OLD => $NEW"
  go mod edit -replace="$OLD=$NEW"
done <<<"$REPLACES"

# 3. Resolve the module graph (only the Go module proxy is needed).
log "step 3/4: resolving dependencies (go mod download; may take a few minutes on a cold cache)"
go mod download </dev/null || die "dependency download failed"

# 4. Build.
TAGS="hashicorpmetrics codegen_generated release"
CGO=1
if ! command -v "$(go env CC)" >/dev/null 2>&1; then
  log "WARNING: no C compiler ($(go env CC)) found, building with CGO_ENABLED=0"
  CGO=0
fi
LDFLAGS="-s -w -X $MODULE/version.GitCommit=$COMMIT_HASH -X $MODULE/version.BuildDate=$COMMIT_TIME"
log "step 4/4: go build (tags: $TAGS, CGO_ENABLED=$CGO) — expect 10-25 min on 2 cores with a cold build cache"
TMP_BIN="$BUILD_DIR/nomad.tmp.$$"
trap 'rm -f "$TMP_BIN"' EXIT
CGO_ENABLED=$CGO go build -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" -o "$TMP_BIN" "$MODULE" </dev/null \
  || die "go build failed (try BERTH_NOMAD_VERSION=1.10.5 as a fallback)"

is_good_binary "$TMP_BIN" || die "built binary does not report Nomad v$VERSION: $("$TMP_BIN" version 2>&1 || true)"
mv -f "$TMP_BIN" "$BIN"
trap - EXIT

END=$(date +%s)
SIZE="$(du -h "$BIN" | cut -f1)"
log "built $("$BIN" version | head -n1) in $(( (END - START) / 60 ))m$(( (END - START) % 60 ))s, size $SIZE"
echo "$BIN"
