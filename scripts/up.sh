#!/usr/bin/env bash
# Starts the given services (e.g. `inventory order`) as local processes, logs and
# pid files in .run/, and waits until each reports SERVING. `make up` passes
# every service under services/.
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

for service in "$@"; do
  pid_file="$run_dir/$service.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "up: $service already running (pid $(cat "$pid_file"))"
    continue
  fi
  "target/debug/oms-$service" >"$run_dir/$service.log" 2>&1 &
  echo $! >"$pid_file"
done

for service in "$@"; do
  if ! target/debug/omsctl health "$service" --wait 60s; then
    echo "up: $service is not serving; its log is $run_dir/$service.log" >&2
    exit 1
  fi
done
echo "up: all serving; logs in $run_dir/, stop with make down"
