#!/usr/bin/env bash
# start-nomad-acl.sh — start the ACL-enabled Nomad test agent (http://127.0.0.1:4746).
#
# Same as `BERTH_NOMAD_ACL=1 scripts/start-nomad.sh`; see that script for details.
# Ports 4746 (http) / 4747 (rpc) / 4748 (serf), run dir $HOME/.cache/berth/nomad-acl/,
# persistent data_dir, acl { enabled = true }, bootstrapped on first start; the
# management token is written to $HOME/.cache/berth/nomad-acl/token (mode 0600).
# Stop with: scripts/stop-nomad.sh acl
set -euo pipefail
BERTH_NOMAD_ACL=1 exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/start-nomad.sh" "$@"
