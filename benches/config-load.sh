#!/usr/bin/env bash
# Measures what reading a whole fleet's config costs, for docs/scaling.md:
# a config of CODECS [[codec]] tables (every tenth with tags), then
#   1. `xmacro shard --config FILE --of 20`: wall time and peak RSS;
#   2. `xmacro run --config FILE --shard 0/20` start-up: time until the
#      "shard 0/20: serving" line (the config read, then each served
#      codec's lock taken in PostgreSQL) and peak RSS (VmHWM) then; the
#      log's time stamps split the two.
# The codecs point at a closed port, so nothing but loading is measured.
#   XMACRO_TEST_POSTGRES=$(.ci/postgres) benches/config-load.sh [CODECS] [BIN]
set -euo pipefail
codecs=${1:-100000}
bin=${2:-target/release/xmacro}
db=${XMACRO_TEST_POSTGRES:?export XMACRO_TEST_POSTGRES=\$(.ci/postgres)}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
schema="load_$$"
psql -q "$db" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema"
mkdir "$dir/scripts"
echo 'print("up");' > "$dir/scripts/a.rhai"
python3 - "$dir/xmacro.toml" "$codecs" "$db?options=-csearch_path%3D$schema" <<'EOF'
import sys
path, n, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    f.write(f'scripts = "scripts"\nstate = "{db}"\n')
    f.write('[defaults]\nusername = "integrator"\npassword_env = "PW"\nrequest_timeout = "60s"\n')
    for i in range(n):
        f.write(f'\n[[codec]]\nname = "room-{i:06d}"\nurl = "ws://127.0.0.1:9/ws"\n')
        if i % 10 == 0:
            f.write(f'tags = ["floor{i % 40}", "building{i % 7}"]\n')
EOF
echo "config: $codecs codecs, $(du -k "$dir/xmacro.toml" | cut -f1) KiB"
PW= /usr/bin/time -f "shard --of 20: %e s, peak RSS %M KiB" \
  "$bin" shard --config "$dir/xmacro.toml" --of 20 > "$dir/shard.out"
tail -1 "$dir/shard.out"
date -u +"%H:%M:%S.%N started" | cut -c1-12,19-
start=$(date +%s.%N)
: > "$dir/host.log"
PW= RUST_LOG=info "$bin" run --config "$dir/xmacro.toml" --shard 0/20 2> "$dir/host.log" &
pid=$!
until grep -q 'shard 0/20: serving' "$dir/host.log"; do
  sleep 0.05
  kill -0 $pid || { tail "$dir/host.log"; exit 1; }
done
end=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill $pid
echo "run --shard 0/20: serving after $(echo "$end - $start" | bc) s, peak RSS $hwm KiB"
# When the config was read (its "config" line) and the locks all taken.
grep -E ' config |shard 0/20: serving' "$dir/host.log" |
  sed -E 's/^[0-9-]+T([0-9:.]+)[^ ]* +INFO /\1 /' 

