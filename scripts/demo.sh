#!/usr/bin/env bash
# `make demo`: the suite at work in one command. Starts the services unless
# they all serve already (as `make up` does), seeds warehouses and stores in
# two countries with stock, and runs a realistic batch of orders through
# omsctl: several channels, a declined card, an out-of-stock line, a split
# shipment, a store pickup, a cancel and a return. Each outcome is printed with
# its saga's steps and trace id; the order stats close the run.
#
# Safe to run again: every run places orders with fresh references
# (demo-<run>-...), locations are saved by their ids, and stock counts are
# absolute. Where the services are: OMS_<SERVICE>_ADDR, as for omsctl.
# DEMO_RUN names the run (default: the time); OMSCTL a built omsctl to use.
#
# Over mutual TLS by default, as `make up` starts the suite: omsctl presents
# the operator's certificate from .run/certs, through .run/env. OMS_TLS=off
# runs it in plaintext; OMS_TLS=mutual with OMS_TLS_CERT, OMS_TLS_KEY and
# OMS_TLS_CA (as for omsctl) reaches a suite started otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

services=("$@")
if [ ${#services[@]} -eq 0 ]; then
  services=(order inventory routing payment shipping returns saga)
fi
omsctl=${OMSCTL:-target/debug/omsctl}
# The time as 20261207T011102: the letter keeps the digits from reading as one
# 14-digit number, which the suite would refuse as a card number when it passes
# the Luhn check (one time in ten).
run=${DEMO_RUN:-$(date +%Y%m%dT%H%M%S)}

# The binaries of this checkout, built as up.sh builds them (so its build
# after this one has nothing to do).
if [ -z "${OMSCTL:-}" ]; then
  bins=(--bin omsctl)
  for service in "${services[@]}"; do bins+=(--bin "oms-$service"); done
  cargo build --locked --quiet "${bins[@]}"
fi
# omsctl's TLS settings: the environment's, unless it names no certificate
# of its own; then those of the suite `make up` started (.run/env), when that
# runs in the mode OMS_TLS asks for (any, when unset).
own_tls=${OMS_TLS-}
own_cert=${OMS_TLS_CERT-}
suite_env() {
  [ -z "$own_cert" ] && [ -f .run/env ] || return 0
  local mode
  mode=$(sed -n 's/^export OMS_TLS=//p' .run/env)
  [ -z "$own_tls" ] || [ "${own_tls,,}" = "$mode" ] || return 0
  # shellcheck source=/dev/null
  source .run/env
}
# Start what is not serving yet; up.sh leaves running services alone.
down=()
for service in "${services[@]}"; do
  (suite_env && "$omsctl" health "$service" >/dev/null 2>&1) || down+=("$service")
done
if [ ${#down[@]} -gt 0 ]; then
  echo "demo: starting ${down[*]}"
  # A return saga looks at its return every minute by default; the demo's
  # suite looks every 2 s, so the return's end shows at once.
  OMS_SAGA_RETURN_POLL=${OMS_SAGA_RETURN_POLL:-2s} scripts/up.sh "${services[@]}"
fi
suite_env

step() { printf '\n== %s\n' "$*"; }
# Quiet: no idempotency keys on stderr; each run makes fresh ones.
ctl() { "$omsctl" --quiet "$@"; }
# The value of the first "field": "value" in JSON on stdin.
field() { grep -m1 "\"$1\"" | sed -E 's/.*: *"?([^",]*)"?,?$/\1/'; }

step "Seeding locations: warehouses and stores in Germany and France"
ctl stock location wh-berlin --name "Berlin warehouse" --kind warehouse \
  --street "Lagerstrasse 1" --postal-code 10115 --city Berlin --country DE --geo 52.52,13.40
ctl stock location wh-hamburg --name "Hamburg warehouse" --kind warehouse \
  --street "Hafenweg 5" --postal-code 20457 --city Hamburg --country DE --geo 53.55,9.99
ctl stock location store-berlin-mitte --name "Berlin Mitte store" --kind store \
  --street "Rosenthaler Strasse 40" --postal-code 10178 --city Berlin --country DE --geo 52.527,13.402
ctl stock location wh-paris --name "Paris warehouse" --kind warehouse \
  --street "Rue de l'Entrepot 3" --postal-code 93200 --city Saint-Denis --country FR --geo 48.93,2.36
ctl stock location store-paris-marais --name "Paris Marais store" --kind store \
  --street "Rue des Francs-Bourgeois 12" --postal-code 75004 --city Paris --country FR --geo 48.857,2.36
ctl stock locations

step "Seeding stock (absolute counts)"
for entry in TEE-M:wh-berlin:100 TEE-M:wh-hamburg:100 TEE-L:wh-hamburg:60 CAP:wh-berlin:80 \
  CAP:wh-hamburg:40 POSTER:wh-berlin:30 MUG:wh-hamburg:30 TEE-M:store-berlin-mitte:20 \
  CAP:store-berlin-mitte:20 TEE-M:wh-paris:50 CAP:wh-paris:50 TEE-M:store-paris-marais:10 \
  VINYL-LTD:wh-berlin:0; do
  IFS=: read -r sku location count <<<"$entry"
  ctl stock set "$sku" "$location" "$count" >/dev/null
done
ctl stock availability TEE-M TEE-L CAP POSTER MUG VINYL-LTD

berlin=(--street "Unter den Linden 77" --postal-code 10117 --city Berlin --country DE --geo 52.5163,13.3777)
hamburg=(--street "Jungfernstieg 10" --postal-code 20354 --city Hamburg --country DE --geo 53.5526,9.9936)
munich=(--street "Marienplatz 1" --postal-code 80331 --city Munich --country DE --geo 48.1374,11.5755)
paris=(--street "10 Rue de Rivoli" --postal-code 75001 --city Paris --country FR --geo 48.8556,2.3601)

step "1. Web shop, Berlin: reserved, paid, shipped from the nearest warehouse"
ctl orders place --channel web --ref "demo-$run-web" "${berlin[@]}" \
  --line TEE-M:2:19.99 --line CAP:1:15.00 --shipping-price 4.95 --wait

step "2. App, Hamburg, express: shipped from Hamburg"
ctl orders place --channel app --ref "demo-$run-app" --customer "Grace Hopper" \
  --email grace@example.com "${hamburg[@]}" --service-level express \
  --line TEE-L:1:21.00 --shipping-price 7.95 --wait

step "3. Marketplace (amazon-de), Munich"
ctl orders place --channel marketplace:amazon-de --ref "demo-$run-amazon" \
  --customer "Alan Turing" --email alan@example.com "${munich[@]}" \
  --line CAP:2:15.00 --wait

step "4. Call centre, Paris: shipped from the French warehouse"
ctl orders place --channel call-center --ref "demo-$run-callcenter" \
  --customer "Marie Curie" --email marie@example.com --currency EUR "${paris[@]}" \
  --line TEE-M:1:19.99 --line CAP:1:15.00 --wait

step "5. A declined card: the order is REJECTED and everything undone"
ctl orders place --channel web --ref "demo-$run-declined" "${berlin[@]}" \
  --card tok_insufficient_funds --line TEE-M:1:19.99 --wait

step "6. An out-of-stock line: nothing can ship it, the order is REJECTED"
ctl orders place --channel web --ref "demo-$run-soldout" "${berlin[@]}" \
  --line TEE-M:1:19.99 --line VINYL-LTD:1:34.90 --wait

step "7. A split shipment: the poster is only in Berlin, the mug only in Hamburg"
ctl orders place --channel web --ref "demo-$run-split" "${munich[@]}" \
  --line POSTER:1:12.00 --line MUG:2:9.50 --wait

step "8. Store pickup at Berlin Mitte: paid, no shipment"
ctl orders place --channel store:berlin-mitte --ref "demo-$run-pickup" \
  --customer "Ada Lovelace" --pickup store-berlin-mitte --line TEE-M:1:19.99 --wait

step "9. A cancel after payment: shipments cancelled, stock back, money refunded"
ctl orders place --channel web --ref "demo-$run-cancel" "${berlin[@]}" \
  --line CAP:1:15.00 --wait
ctl orders cancel "demo-$run-cancel" --reason "customer changed mind" --wait

step "10. A return: order 1 is delivered, one shirt comes back and is refunded"
ctl carrier deliver "demo-$run-web"
return_id=$(ctl --json returns request "demo-$run-web" --line TEE-M:1:wrong-size | field returnId)
echo "return $return_id requested"
ctl returns approve "$return_id" --location wh-berlin
ctl carrier pick-up-return "$return_id"
ctl returns receive "$return_id" --location wh-berlin >/dev/null
# A suite started without the demo's setting looks at the return once a minute.
ctl returns inspect "$return_id" --line TEE-M:1:0:0 --wait --wait-timeout 3m
ctl orders get "demo-$run-web"

step "Order stats"
ctl stats
