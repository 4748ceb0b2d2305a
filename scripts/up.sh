#!/usr/bin/env bash
# Starts the given services (e.g. `inventory order`) as local processes, logs and
# pid files in .run/, and waits until each reports SERVING. `make up` passes
# every service under services/.
#
# Secure by default: the services speak mutual TLS, each with its own
# certificate, all signed by a local CA in .run/certs that `omsctl certs` makes
# on the first run and later runs reuse while it is valid. `OMS_TLS=off` (the
# one setting for it) starts them in plaintext instead. Either way .run/env
# holds the exports that point omsctl at the suite (`source .run/env`); `make
# down` removes it with the suite.
#
# The services' ports (50051-50057) lie inside Linux's default range of
# ephemeral ports, so on a busy machine an outgoing connection of another
# program may hold one for a while: a service that finds its port taken is
# started again until the port is free (up to a minute), and `make deps`
# reserves the ports where it may.
set -euo pipefail
cd "$(dirname "$0")/.."
run_dir=.run
certs_dir=$run_dir/certs
jwt_dir=$run_dir/jwt
env_file=$run_dir/env
mkdir -p "$run_dir"

if [ $# -eq 0 ]; then
  echo "up: no services under services/ yet; nothing to start"
  exit 0
fi

running() { # service
  local pid_file="$run_dir/$1.pid"
  [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

# The mode services already running started with (.run/env says it; a suite
# started before make up wrote it ran in plaintext), or nothing.
started=
for service in "$@"; do
  if running "$service"; then
    started=off
    [ -f "$env_file" ] && started=$(sed -n 's/^export OMS_TLS=//p' "$env_file")
    break
  fi
done

# Mutual TLS unless OMS_TLS says otherwise; a running suite keeps its mode,
# as the other mode's calls would never reach it.
tls=${OMS_TLS:-${started:-mutual}}
tls=${tls,,}
case $tls in
  mutual | off) ;;
  *)
    echo "up: OMS_TLS must be mutual (the default) or off, not \"$OMS_TLS\"" >&2
    exit 2
    ;;
esac
if [ -n "$started" ] && [ "$started" != "$tls" ]; then
  echo "up: the running services use OMS_TLS=$started; stop them with make down" \
    "before starting the suite with OMS_TLS=$tls" >&2
  exit 2
fi

bins=(--bin omsctl)
for service in "$@"; do bins+=(--bin "oms-$service"); done
cargo build --locked "${bins[@]}"

# Whether every certificate in $certs_dir is signed by its CA, valid for at
# least another day, and matches its key. Files missing are not its concern
# (`omsctl certs --if-missing` makes a new set then); without openssl only
# that check is made.
certs_valid() {
  command -v openssl >/dev/null || return 0
  [ -f "$certs_dir/ca.pem" ] || return 0
  openssl x509 -noout -checkend 86400 -in "$certs_dir/ca.pem" >/dev/null 2>&1 || return 1
  local cert key
  for cert in "$certs_dir"/*.pem; do
    [ "$cert" = "$certs_dir/ca.pem" ] && continue
    key=${cert%.pem}.key
    [ -f "$key" ] || continue
    openssl verify -CAfile "$certs_dir/ca.pem" "$cert" >/dev/null 2>&1 || return 1
    openssl x509 -noout -checkend 86400 -in "$cert" >/dev/null 2>&1 || return 1
    [ "$(openssl x509 -noout -pubkey -in "$cert" 2>/dev/null)" = \
      "$(openssl pkey -pubout -in "$key" 2>/dev/null)" ] || return 1
  done
}

# What the local suite needs to tell who is who: under $certs_dir the CA and a
# certificate and key per principal (`omsctl certs`), made once and reused;
# under $jwt_dir the key that signs bearer tokens and its JWKS (`omsctl token
# keys`), which the services verify tokens with, and a token for the operator
# who ran make up (`omsctl token sign`), exported in .run/env below.
credentials() {
  local how=--if-missing made
  if ! certs_valid; then
    if [ -n "$started" ]; then
      echo "up: the certificates in $certs_dir are expired, or not of one set; stop the" \
        "running services with make down, and make up makes a new set" >&2
      exit 1
    fi
    echo "up: the certificates in $certs_dir are expired, or not of one set; making a new set"
    how=--force
  fi
  if ! made=$(target/debug/omsctl certs --out "$certs_dir" "$how" 2>&1); then
    echo "$made" >&2
    exit 1
  fi
  echo "up: ${made%%;*}"
}

# The token signing key, made once, and a token for the operator who runs
# make up, in either mode: plaintext verifies a token when one is sent.
tokens() {
  local made
  if [ ! -f "$jwt_dir/jwks.json" ] || [ ! -f "$jwt_dir/jwt-signing-key.pem" ]; then
    if ! made=$(target/debug/omsctl token keys --out "$jwt_dir" --force 2>&1); then
      echo "$made" >&2
      exit 1
    fi
    echo "up: made a token signing key in $jwt_dir/"
  fi
  jwt=$(cd "$jwt_dir" && pwd)
  local operator=${OMS_LOCAL_OPERATOR:-$(id -un)}
  if ! OMS_TOKEN=$(target/debug/omsctl token sign --key "$jwt/jwt-signing-key.pem" \
    --subject "$operator" --role operator --ttl 7d 2>&1); then
    echo "$OMS_TOKEN" >&2
    exit 1
  fi
  export OMS_TOKEN
}

if [ "$tls" = mutual ]; then
  credentials
  certs=$(cd "$certs_dir" && pwd)
  # omsctl here and after `source .run/env` presents the operator's certificate.
  export OMS_TLS=mutual OMS_TLS_CA=$certs/ca.pem \
    OMS_TLS_CERT=$certs/operator.pem OMS_TLS_KEY=$certs/operator.key
else
  export OMS_TLS=off
  unset OMS_TLS_CA OMS_TLS_CERT OMS_TLS_KEY
fi
# Services verify bearer tokens; omsctl acts with the operator's token, whose
# subject (the user who ran make up) the timelines and ledgers name.
tokens

start() { # service
  if [ "$tls" = mutual ]; then
    # Each service serves and calls its peers with its own certificate.
    OMS_TLS_CERT=$certs/$1.pem OMS_TLS_KEY=$certs/$1.key OMS_JWT_KEYS=$jwt/jwks.json \
      "target/debug/oms-$1" >"$run_dir/$1.log" 2>&1 &
  else
    OMS_JWT_KEYS=$jwt/jwks.json "target/debug/oms-$1" >"$run_dir/$1.log" 2>&1 &
  fi
  echo $! >"$run_dir/$1.pid"
}

# The exports that reach the suite from any folder: omsctl's settings, and
# GRPCURL_TLS, grpcurl's flags for the same files (`grpcurl $GRPCURL_TLS ...`).
{
  echo "# Written by make up (scripts/up.sh): \`source .run/env\` points omsctl and"
  echo "# \`grpcurl \$GRPCURL_TLS ...\` at the suite it started; make down removes it."
  if [ "$tls" = mutual ]; then
    echo "export OMS_TLS=mutual"
    for variable in OMS_TLS_CA OMS_TLS_CERT OMS_TLS_KEY; do
      printf 'export %s=%q\n' "$variable" "${!variable}"
    done
    echo "export GRPCURL_TLS=\"-cacert $OMS_TLS_CA -cert $OMS_TLS_CERT -key $OMS_TLS_KEY\""
  else
    echo "export OMS_TLS=off"
    echo "unset OMS_TLS_CA OMS_TLS_CERT OMS_TLS_KEY"
    echo "export GRPCURL_TLS=-plaintext"
  fi
  # The operator's token; grpcurl sends it with -H "$GRPCURL_AUTH".
  printf 'export OMS_TOKEN=%q\n' "$OMS_TOKEN"
  echo "export GRPCURL_AUTH=\"authorization: Bearer \$OMS_TOKEN\""
  # Addresses set for this run, which the services listen at.
  while IFS= read -r variable; do
    printf 'export %s=%q\n' "$variable" "${!variable}"
  done < <(compgen -e | grep -E '^OMS_[A-Z]+_ADDR$' || true)
} >"$env_file.new"
mv "$env_file.new" "$env_file"

waiting=()
for service in "$@"; do
  if running "$service"; then
    echo "up: $service already running (pid $(cat "$run_dir/$service.pid"))"
  else
    start "$service"
  fi
  waiting+=("$service")
done

deadline=$((SECONDS + 60))
while [ ${#waiting[@]} -gt 0 ]; do
  still=()
  for service in "${waiting[@]}"; do
    # Over TLS as well: omsctl presents the operator's certificate.
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
order_addr=${OMS_ORDER_ADDR:-127.0.0.1:50051}
if [ "$tls" = mutual ]; then
  echo "up: all serving over mutual TLS, certificates in $certs_dir/ (OMS_TLS=off make up: plaintext)"
  echo "up: grpcurl -cacert $certs_dir/ca.pem -cert $certs_dir/operator.pem" \
    "-key $certs_dir/operator.key $order_addr list"
else
  echo "up: all serving in plaintext (OMS_TLS=off)"
  echo "up: grpcurl -plaintext $order_addr list"
fi
echo "up: point omsctl and grpcurl at the suite: source $env_file" \
  "(then omsctl stats, grpcurl \$GRPCURL_TLS $order_addr list)"
echo "up: logs in $run_dir/, stop with make down"
