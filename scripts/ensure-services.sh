#!/usr/bin/env bash
# The test suite needs PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379). On these machines they run
# before a session starts; if one has stopped, start it the way the machine does, and fail loudly if it
# still cannot be reached (tests of those backends are never skipped).
set -euo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
port_open 6379 || "$(dirname "$0")/ensure-redis.sh" || true
for i in $(seq 1 30); do port_open 5432 && port_open 6379 && exit 0; sleep 0.5; done
port_open 5432 || echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2
port_open 6379 || echo "Redis is not reachable on 127.0.0.1:6379" >&2
exit 1
