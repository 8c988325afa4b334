# sup as the entrypoint of a Nomad task: the image of deploy/Containerfile, units in
# /etc/sup.d. Nomad schedules the fleet; sup supervises inside each allocation. Same
# wiring as deploy/kubernetes/deployment.yaml.
job "sup-example" {
  datacenters = ["dc1"]
  type        = "service"

  group "app" {
    count = 3

    network {
      port "http" {
        to = 8080
      }
      port "metrics" {
        to = 9100
      }
    }

    task "sup" {
      driver = "docker" # or "podman" (nomad-driver-podman): same config keys used here

      config {
        image = "sup-example:latest"
        # The image's ENTRYPOINT, spelled out. Supervisor mode: Nomad's SIGTERM stops every
        # unit in reverse dependency order and sup exits 0.
        # Entrypoint mode instead: args = ["--grace", "5s", "--", "/app", "--flag"].
        entrypoint = ["/usr/bin/sup"]
        args       = ["--grace", "5s", "--metrics-listen", "0.0.0.0:9100"]
        ports      = ["http", "metrics"]
        # Per-unit cgroups (units with `resources`) need a writable cgroup in the
        # container; without it such units fail with a message naming what is missing.
        # privileged = true   # also needs allow_privileged in the docker plugin config
      }

      # Rule: kill_timeout >= the longest chain of stop timeouts (units stop in reverse
      # dependency order: worker 5s -> web 10s -> setup 5s = 20s) + sup's --grace (5s)
      # = 25s. Nomad clients cap it at their max_kill_timeout (default 30s).
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      resources {
        cpu    = 200
        memory = 256
      }

      # Readiness of the whole allocation: every enabled unit running, ready and not
      # unhealthy. Script checks run inside the task (docker exec) and need Consul.
      service {
        name     = "sup-example"
        port     = "http"
        provider = "consul"

        check {
          name     = "all units healthy"
          type     = "script"
          command  = "/usr/bin/supctl"
          args     = ["health"]
          interval = "5s"
          timeout  = "2s"
        }

        # One unit: restart the task when web stays down (sup restarts units itself first).
        check {
          name     = "web healthy"
          type     = "script"
          command  = "/usr/bin/supctl"
          args     = ["health", "web"]
          interval = "10s"
          timeout  = "2s"

          check_restart {
            limit = 6
            grace = "10s"
          }
        }
      }

      # Prometheus via Consul service discovery of sup's metrics endpoint.
      service {
        name     = "sup-example-metrics"
        port     = "metrics"
        provider = "consul"
        tags     = ["prometheus", "metrics_path=/metrics"]
      }
    }
  }
}
