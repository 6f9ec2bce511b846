#!/usr/bin/env bash
# Measures what one sharded host costs at idle, for docs/scaling.md:
# CODECS codecs (all on one simulator) x 3 scripts, store in PostgreSQL,
# `--shard 0/1`; prints idle CPU (% of one core over WINDOW seconds) and
# RSS once every instance has started.
#   XMACRO_TEST_POSTGRES=$(.ci/postgres) benches/fleet-capacity.sh [CODECS] [BIN]
set -euo pipefail
codecs=${1:-1000}
bin=${2:-target/release/xmacro}
window=${WINDOW:-10}
db=${XMACRO_TEST_POSTGRES:?export XMACRO_TEST_POSTGRES=\$(.ci/postgres)}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
schema="cap_$$"
psql -q "$db" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema"
"$bin" sim --listen 127.0.0.1:0 > "$dir/sim.out" 2>/dev/null &
until grep -q listening "$dir/sim.out"; do sleep 0.1; done
url=$(head -1 "$dir/sim.out" | awk '{print $3}')
mkdir "$dir/scripts"
echo 'xapi.Event.Sim.IdleA.on(|e| print(`a ${e}`));' > "$dir/scripts/a.rhai"
echo 'xapi.Status.Audio.Volume.on(|v| store.set("v", v));' > "$dir/scripts/b.rhai"
echo 'set_interval(|| print("c"), 3600000);' > "$dir/scripts/c.rhai"
{
  echo "scripts = \"scripts\""
  echo "state = \"$db?options=-csearch_path%3D$schema\""
  printf '[defaults]\npassword_env = "PW"\nrequest_timeout = "60s"\n'
  for i in $(seq 0 $((codecs - 1))); do printf '[[codec]]\nname = "room-%05d"\nurl = "%s"\n' "$i" "$url"; done
} > "$dir/xmacro.toml"
PW= RUST_LOG=info "$bin" run --config "$dir/xmacro.toml" --shard 0/1 2> "$dir/host.log" &
pid=$!
want=$((codecs * 3))
start=$(date +%s)
until [ "$(grep -c ' started' "$dir/host.log" || true)" -ge "$want" ]; do
  sleep 0.5
  kill -0 $pid || { tail "$dir/host.log"; exit 1; }
done
echo "all $want instances started in $(( $(date +%s) - start )) s"
sleep 3
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); sleep "$window"; t1=$(ticks)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "codecs=$codecs instances=$want idle_cpu=$(echo "scale=2; ($t1 - $t0) * 100 / $hz / $window" | bc)% rss=$((rss / 1024))MiB"
psql -q "$db" -c "DROP SCHEMA $schema CASCADE"
