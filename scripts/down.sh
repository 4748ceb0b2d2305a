#!/usr/bin/env bash
# Stops the services `make up` started: SIGTERM, then waits for each to drain
# and exit.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob

for pid_file in .run/*.pid; do
  service=$(basename "$pid_file" .pid)
  pid=$(cat "$pid_file")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "down: $service did not exit in 30s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    else
      echo "down: $service stopped"
    fi
  fi
  rm -f "$pid_file"
done
