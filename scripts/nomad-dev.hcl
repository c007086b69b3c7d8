# Shared Nomad agent config for Berth integration tests.
#
# Used by scripts/start-nomad.sh (main agent, ports 4646-4648) and
# scripts/start-nomad-acl.sh (ACL agent, ports 4746-4748). Per-agent settings
# (name, data_dir, ports, server/client, acl) live in a small overlay file that
# the start script generates in the agent's run dir and passes as a second
# -config; values there are merged on top of this file.

disable_update_check = true
log_level            = "INFO"

# Bind everything to loopback only (the start scripts also pass -bind 127.0.0.1).
bind_addr = "127.0.0.1"

# Outside -dev mode Nomad refuses to derive advertise addresses from a loopback
# bind ("Defaulting advertise to localhost is unsafe"), so set them explicitly.
# Without a port, each uses the agent's configured port for that protocol.
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}

client {
  network_interface = "lo"

  # Test allocations are short-lived; collect terminal allocs quickly.
  gc_interval = "1m"

  options {
    # Skip cloud-metadata fingerprinters: pointless for a local test agent, they
    # probe 169.254.169.254, and env_aws makes the client fail to start when
    # AWS_CA_BUNDLE is set ("failed to setup IMDS client: unable to add custom
    # RootCAs HTTPClient"), which is the case on some CI images.
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}

# raw_exec: runs the task as a plain child process of the client (no isolation).
plugin "raw_exec" {
  config {
    enabled = true
  }
}

# docker: images used by the tests (e.g. berth-test/busybox:1) are built
# locally and never pulled. The docker driver only pulls when the tag is
# "latest" or the task sets force_pull = true; for any other tag it uses the
# local image if `docker image inspect` finds it. So: always use a non-latest
# tag and leave force_pull = false (the default) in the task config.
plugin "docker" {
  config {
    allow_privileged = false

    volumes {
      enabled = true
    }

    gc {
      # Never delete images when the last task using them stops: our local test
      # images cannot be pulled back.
      image = false

      # Remove a task's container once the task is done.
      container = true

      # Two Nomad clients (main + ACL agent) can share one dockerd. The dangling
      # container reconciler removes any running Nomad-labelled container its own
      # client does not track, i.e. it would kill the other agent's containers.
      dangling_containers {
        enabled = false
      }
    }
  }
}
