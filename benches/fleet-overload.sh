#!/usr/bin/env bash
# Overload (issue 31, Must show 4): HOSTS hosts, each with CODECS codecs
# on a simulator of its own, x 3 scripts (as benches/fleet-capacity.sh;
# store in a local directory per host), all sharing this machine's cores.
# Once every instance started (or after 300 s), the fleet idles IDLE
# seconds, every simulator is killed and started again on its port, and
# the fleet has SETTLE seconds to come back. Prints one line:
#
#   start_s     until every instance of every host logged "started"
#   back_s      from the restart until every session of every simulator is open
#   peak_ups    most upgrade attempts within any one second, all simulators
#               together, after the restart
#   half_open   links the hosts declared half-open over the whole run
#   budget      top levels stopped by their wall-clock budget (own fault or overload)
#   never_up    instances that never logged "started", of HOSTS x CODECS x 3
#   load        the load average when the run ended
#
# KEEP_LOGS=DIR copies the hosts' logs there at the end.
#   benches/fleet-overload.sh [HOSTS] [CODECS] [BIN] [SIM]
set -euo pipefail
hosts=${1:-4}
codecs=${2:-2500}
bin=${3:-target/release/xmacro}
simbin=${4:-target/release/xmacro}
idle=${IDLE:-20}
settle=${SETTLE:-30}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
now() { date +%s.%N; }
since() { echo "scale=1; ($(now) - $1) / 1" | bc; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['result']['$1'])"; }
declare -a sims urls
start_sim() { # index, listen address
  "$simbin" sim --listen "$2" > "$dir/sim$1.out" 2>/dev/null &
  sims[$1]=$!
  until grep -q listening "$dir/sim$1.out" 2>/dev/null; do sleep 0.05; done
}
for h in $(seq 0 $((hosts - 1))); do
  start_sim "$h" 127.0.0.1:0
  urls[$h]=$(head -1 "$dir/sim$h.out" | awk '{print $3}')
  d="$dir/host$h"; mkdir -p "$d/scripts"
  echo 'xapi.Event.Sim.IdleA.on(|e| print(`A1 ${e}`));' > "$d/scripts/a.rhai"
  echo 'xapi.Status.Audio.Volume.on(|v| store.set("v", v));' > "$d/scripts/b.rhai"
  echo 'set_interval(|| print("c"), 3600000);' > "$d/scripts/c.rhai"
  {
    printf 'scripts = "scripts"\nstate = "state"\n[defaults]\npassword_env = "PW"\nrequest_timeout = "60s"\n'
    for i in $(seq 0 $((codecs - 1))); do printf '[[codec]]\nname = "room-%05d"\nurl = "%s"\n' "$i" "${urls[$h]}"; done
  } > "$d/xmacro.toml"
done
t0=$(now)
for h in $(seq 0 $((hosts - 1))); do
  PW= RUST_LOG=info "$bin" run --config "$dir/host$h/xmacro.toml" 2> "$dir/host$h.log" &
done
started() { cat "$dir"/host*.log | grep -c ': started$' || true; }
want=$((hosts * codecs * 3))
deadline=$(( $(date +%s) + 300 ))
until [ "$(started)" -ge "$want" ] || [ "$(date +%s)" -ge $deadline ]; do sleep 1; done
start_s=$(since "$t0")
sleep "$idle"
for h in $(seq 0 $((hosts - 1))); do kill -9 "${sims[$h]}"; done
wait "${sims[@]}" 2>/dev/null || true
t0=$(now)
for h in $(seq 0 $((hosts - 1))); do a=${urls[$h]#ws://}; start_sim "$h" "${a%/ws}"; done
sessions() { local n=0; for h in $(seq 0 $((hosts - 1))); do
  s=$("$simbin" sim ctl "${urls[$h]}" inspect 2>/dev/null | field Sessions || echo 0); n=$((n + s - 1)); done; echo $n; }
deadline=$(( $(date +%s) + 180 ))
until [ "$(sessions)" -ge $((hosts * codecs)) ] || [ "$(date +%s)" -ge $deadline ]; do sleep 1; done
back_s=$(since "$t0")
peak_ups=$(for h in $(seq 0 $((hosts - 1))); do "$simbin" sim ctl "${urls[$h]}" inspect 2>/dev/null; done | python3 -c '
import json, sys, bisect
ups = []
dec = json.JSONDecoder(); text = sys.stdin.read(); i = 0
while i < len(text):
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    v, i = dec.raw_decode(text, i); ups += v["result"]["Upgrades"]
ups.sort()
print(max((bisect.bisect_left(ups, t + 1000) - i for i, t in enumerate(ups)), default=0))')
sleep "$settle"
half_open=$(cat "$dir"/host*.log | grep -c 'half-open' || true)
budget=$(cat "$dir"/host*.log | grep -c 'wall-clock budget' || true)
up=0
for h in $(seq 0 $((hosts - 1))); do
  n=$(grep ': started$' "$dir/host$h.log" | sed 's/^.*INFO //; s/: started$//' | sort -u | wc -l); up=$((up + n))
done
[ -n "${KEEP_LOGS:-}" ] && cp "$dir"/host*.log "$KEEP_LOGS"/
echo "hosts=$hosts codecs=$((hosts * codecs)) instances=$want start_s=$start_s back_s=$back_s peak_ups=$peak_ups half_open=$half_open budget=$budget never_up=$((want - up)) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
