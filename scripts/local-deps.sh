#!/usr/bin/env bash
# Makes sure the Postgres and Redis that the tests and `make up` use are running.
# Starts the local ones (as on the development and CI machines) when they are
# down; a server configured elsewhere through OMS_DATABASE_URL or OMS_REDIS_URL
# is left alone.
set -euo pipefail

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "local-deps: $name did not come up" >&2
  return 1
}

if [ -z "${OMS_DATABASE_URL:-}" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "local-deps: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
    wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432 -q
  else
    echo "local-deps: PostgreSQL is not running on 127.0.0.1:5432 (deploy/docker-compose.yml starts one)" >&2
    exit 1
  fi
fi

if [ -z "${OMS_REDIS_URL:-}" ] && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    echo "local-deps: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
  else
    echo "local-deps: Redis is not running on 127.0.0.1:6379 (deploy/docker-compose.yml starts one)" >&2
    exit 1
  fi
fi

# Shipping sets Korean and Japanese text on labels in Noto Sans CJK (Debian's
# fonts-noto-cjk); its tests print such labels. Installed when missing and the
# machine can (root with apt-get); otherwise say what to install.
cjk_font=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
if [ ! -f "$cjk_font" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    echo "local-deps: installing fonts-noto-cjk (Korean and Japanese on labels)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null
  else
    echo "local-deps: $cjk_font is missing: install fonts-noto-cjk (shipping labels in Korean and Japanese need it)" >&2
  fi
fi

# The services' ports lie in Linux's default ephemeral range: keep other
# programs' outgoing connections off them where this machine lets us (root,
# a writable /proc/sys); `make up` copes when it does not.
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ -w "$reserved" ] && ! grep -q "50051-50057" "$reserved" 2>/dev/null; then
  current=$(cat "$reserved")
  echo "${current:+$current,}50051-50057" >"$reserved" 2>/dev/null || true
fi
