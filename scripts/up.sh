#!/usr/bin/env bash
# Starts the given services (e.g. `inventory order`) as local processes, logs and
# pid files in .run/, and waits until each reports SERVING. `make up` passes
# every service under services/.
#
# The services' ports (50051-50057) lie inside Linux's default range of
# ephemeral ports, so on a busy machine an outgoing connection of another
# program may hold one for a while: a service that finds its port taken is
# started again until the port is free (up to a minute), and `make deps`
# reserves the ports where it may.
set -euo pipefail
cd "$(dirname "$0")/.."
run_dir=.run
mkdir -p "$run_dir"

if [ $# -eq 0 ]; then
  echo "up: no services under services/ yet; nothing to start"
  exit 0
fi

bins=(--bin omsctl)
for service in "$@"; do bins+=(--bin "oms-$service"); done
cargo build --locked "${bins[@]}"

start() { # service
  "target/debug/oms-$1" >"$run_dir/$1.log" 2>&1 &
  echo $! >"$run_dir/$1.pid"
}

waiting=()
for service in "$@"; do
  pid_file="$run_dir/$service.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "up: $service already running (pid $(cat "$pid_file"))"
  else
    start "$service"
  fi
  waiting+=("$service")
done

deadline=$((SECONDS + 60))
while [ ${#waiting[@]} -gt 0 ]; do
  still=()
  for service in "${waiting[@]}"; do
    if target/debug/omsctl health "$service" >/dev/null 2>&1; then
      echo "up: $service serving"
      continue
    fi
    if ! kill -0 "$(cat "$run_dir/$service.pid")" 2>/dev/null; then
      if grep -q "Address already in use" "$run_dir/$service.log" && [ $SECONDS -lt $deadline ]; then
        echo "up: $service's port is held by another program's connection; starting it again"
        start "$service"
      else
        echo "up: $service exited; its log is $run_dir/$service.log:" >&2
        tail -n 5 "$run_dir/$service.log" >&2
        exit 1
      fi
    fi
    still+=("$service")
  done
  waiting=("${still[@]+"${still[@]}"}")
  [ ${#waiting[@]} -eq 0 ] && break
  if [ $SECONDS -ge $deadline ]; then
    echo "up: not serving after 60s: ${waiting[*]}; logs in $run_dir/" >&2
    exit 1
  fi
  sleep 0.5
done
echo "up: all serving; logs in $run_dir/, stop with make down"
