#!/usr/bin/env bash
# Stops the services `make up` started: SIGTERM to all at once, then waits for
# each to drain its calls and exit (killing one that takes over 30 s). The
# suite's settings in .run/env go with it; the certificates in .run/certs stay
# for the next `make up`.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob

# Whether the process still runs: one that exited but is not reaped yet (a
# zombie, which answers `kill -0` until the system's init collects it, on some
# machines seconds later) counts as stopped.
running_now() { # pid
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

declare -A running=()
for pid_file in .run/*.pid; do
  service=$(basename "$pid_file" .pid)
  pid=$(cat "$pid_file")
  if kill -TERM "$pid" 2>/dev/null; then
    running[$service]=$pid
  fi
  rm -f "$pid_file"
done

deadline=$((SECONDS + 30))
while [ ${#running[@]} -gt 0 ]; do
  for service in "${!running[@]}"; do
    if ! running_now "${running[$service]}"; then
      echo "down: $service stopped"
      unset "running[$service]"
    fi
  done
  [ ${#running[@]} -eq 0 ] && break
  if [ $SECONDS -ge $deadline ]; then
    for service in "${!running[@]}"; do
      echo "down: $service did not exit in 30s; killing it" >&2
      kill -KILL "${running[$service]}" 2>/dev/null || true
    done
    break
  fi
  sleep 0.02
done
rm -f .run/env
