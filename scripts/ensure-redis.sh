#!/usr/bin/env bash
# Redis on 127.0.0.1:6379 for several switch nodes (`make cluster`) and the tests: started the way
# these machines start it (no persistence: the nodes rebuild what they share) when none answers.
set -euo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open 6379; then
  if ! command -v redis-server >/dev/null; then
    "$(dirname "$0")/ensure-debian-packages.sh" redis-server
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/vpbx.log || true
fi
for i in $(seq 1 30); do port_open 6379 && exit 0; sleep 0.5; done
echo "Redis is not reachable on 127.0.0.1:6379" >&2
exit 1
