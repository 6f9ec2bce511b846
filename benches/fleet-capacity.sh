#!/usr/bin/env bash
# Measures one host carrying a fleet, for docs/scaling.md and BENCHMARKS.md
# (issue 31): CODECS codecs, all on one simulator, x 3 scripts (a: an event
# subscription that prints, b: a store write on each volume change, c: an
# hour-long timer), store in PostgreSQL, `--shard 0/1`. Prints one line:
#
#   start_s      until every instance logged "started" (from the host's start)
#   rss_mib      resident memory once idle
#   threads      the host's threads once idle (peak_threads: most seen while starting)
#   idle_cpu     % of one core over WINDOW seconds once idle (the busiest
#                of WINDOWS such windows one after the other, default 1;
#                idle_cpu_mean: all of them together)
#   save_s       a changed a.rhai (bound to every codec) until every new
#                instance logged "started"
#   back_s       the simulator killed and started again on the same port,
#                until every session is open again
#   peak_ups     most upgrade attempts within any one second after the
#                restart (the simulator's own record; the bench's own
#                inspect sessions, 2 a second, are in it)
#   event        an event after the restart: scripts that printed it, of CODECS
#
# The simulator and the inspecting client are always SIM (default: this
# tree's release build), so two hosts (BIN) are measured against the same
# codec. SETTLE=S waits S seconds (default 3) between the start and the
# idle window; SHOW_WINDOWS=1 prints each idle window's CPU; SHOW_THREADS=1 prints the host's threads by name then, and
# its warnings. CONNECT_RATE=N adds `connect_rate = N` to the config (hosts that
# know the key), PING_RATE=N `ping_rate = N`; KEEPALIVE=20s sets
# `keepalive` in [defaults].
#   XMACRO_TEST_POSTGRES=$(.ci/postgres) benches/fleet-capacity.sh [CODECS] [BIN] [SIM]
set -euo pipefail
codecs=${1:-1000}
bin=${2:-target/release/xmacro}
simbin=${3:-target/release/xmacro}
window=${WINDOW:-10}
db=${XMACRO_TEST_POSTGRES:?export XMACRO_TEST_POSTGRES=\$(.ci/postgres)}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
schema="cap_$$"
psql -q "$db" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema"
now() { date +%s.%N; }
since() { echo "scale=1; ($(now) - $1) / 1" | bc; }
inspect() { "$simbin" sim ctl "$url" inspect 2>/dev/null; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['result']['$1'])"; }
start_sim() {
  "$simbin" sim --listen "$1" > "$dir/sim.out" 2>/dev/null &
  sim=$!
  until grep -q listening "$dir/sim.out" 2>/dev/null; do sleep 0.05; done
}
start_sim 127.0.0.1:0
url=$(head -1 "$dir/sim.out" | awk '{print $3}')
addr=${url#ws://}; addr=${addr%/ws}
mkdir "$dir/scripts"
echo 'xapi.Event.Sim.IdleA.on(|e| print(`A1 ${e}`));' > "$dir/scripts/a.rhai"
echo 'xapi.Status.Audio.Volume.on(|v| store.set("v", v));' > "$dir/scripts/b.rhai"
echo 'set_interval(|| print("c"), 3600000);' > "$dir/scripts/c.rhai"
{
  echo "scripts = \"scripts\""
  echo "state = \"$db?options=-csearch_path%3D$schema\""
  [ -n "${CONNECT_RATE:-}" ] && echo "connect_rate = $CONNECT_RATE"
  [ -n "${PING_RATE:-}" ] && echo "ping_rate = $PING_RATE"
  printf '[defaults]\npassword_env = "PW"\nrequest_timeout = "60s"\n'
  [ -n "${KEEPALIVE:-}" ] && echo "keepalive = \"$KEEPALIVE\""
  for i in $(seq 0 $((codecs - 1))); do printf '[[codec]]\nname = "room-%05d"\nurl = "%s"\n' "$i" "$url"; done
} > "$dir/xmacro.toml"
started() { grep -c ' started' "$dir/host.log" || true; }
t0=$(now)
PW= RUST_LOG=info "$bin" run --config "$dir/xmacro.toml" --shard 0/1 2> "$dir/host.log" &
pid=$!
want=$((codecs * 3))
peak_threads=0
until [ "$(started)" -ge "$want" ]; do
  sleep 0.2
  kill -0 $pid || { tail "$dir/host.log"; exit 1; }
  t=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
  [ "$t" -gt "$peak_threads" ] && peak_threads=$t
done
start_s=$(since "$t0")
sleep "${SETTLE:-3}"
[ -n "${SHOW_THREADS:-}" ] && { cat /proc/$pid/task/*/comm | sort | uniq -c >&2; grep -c WARN "$dir/host.log" >&2 || true; grep WARN "$dir/host.log" | cut -c1-300 | sort | uniq -c | sort -rn | head -5 >&2 || true; }
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# WINDOWS windows one after the other: the busiest is idle_cpu, all of
# them together idle_cpu_mean (10,000 links are pinged once per 67 s at
# the default ping_rate, so 90 s of windows sees every link's ping).
idle_cpu=0; cfirst=$(ticks); c0=$cfirst
for _ in $(seq "${WINDOWS:-1}"); do
  sleep "$window"; c1=$(ticks)
  w=$(echo "scale=2; ($c1 - $c0) * 100 / $hz / $window" | bc)
  [ -n "${SHOW_WINDOWS:-}" ] && echo "window: $w%" >&2
  [ "$(echo "$w > $idle_cpu" | bc)" = 1 ] && idle_cpu=$w
  c0=$c1
done
idle_cpu_mean=$(echo "scale=2; ($c0 - $cfirst) * 100 / $hz / $window / ${WINDOWS:-1}" | bc)
rss=$(( $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024 ))
threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")

# A save of a.rhai, bound to every codec.
before=$(started)
t0=$(now)
echo 'xapi.Event.Sim.IdleA.on(|e| print(`A2 ${e}`));' > "$dir/scripts/a.rhai"
until [ "$(started)" -ge $((before + codecs)) ]; do sleep 0.05; done
save_s=$(since "$t0")
sleep 2

# The simulator restarts on the same port.
kill -9 "$sim"; wait "$sim" 2>/dev/null || true
t0=$(now)
start_sim "$addr"
until [ "$(inspect | field Sessions)" -ge $((codecs + 1)) ]; do sleep 0.5; done
back_s=$(since "$t0")
peak_ups=$(inspect | python3 -c '
import json, sys, bisect
ups = sorted(json.load(sys.stdin)["result"]["Upgrades"])
print(max((bisect.bisect_left(ups, t + 1000) - i for i, t in enumerate(ups)), default=0))')
# Every script subscribed again (a and b: two per codec), then one event.
until [ "$(inspect | field Subscriptions)" -ge $((codecs * 2)) ]; do sleep 0.5; done
"$simbin" sim ctl "$url" event Event Sim IdleA > /dev/null
deadline=$(( $(date +%s) + 30 ))
got() { grep -c 'A2 ' "$dir/host.log" || true; }
until [ "$(got)" -ge "$codecs" ] || [ "$(date +%s)" -ge $deadline ]; do sleep 0.2; done
half_open=$(grep -c 'half-open' "$dir/host.log" || true)
echo "codecs=$codecs instances=$want start_s=$start_s rss_mib=$rss threads=$threads peak_threads=$peak_threads idle_cpu=$idle_cpu% idle_cpu_mean=$idle_cpu_mean% save_s=$save_s back_s=$back_s peak_ups=$peak_ups event=$(got)/$codecs half_open=$half_open load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
kill $pid; wait $pid 2>/dev/null || true
psql -q "$db" -c "DROP SCHEMA $schema CASCADE"
