#!/usr/bin/env bash
# The checksum cache at scale: FILES files of 1 MiB (default 2,000: 2 GiB) synced
# with --checksum to `haul serve` three times -- into an empty bucket, again with
# nothing changed, and after one file was rewritten -- then once more with a fresh
# journal (no records). Bytes read are counted by the kernel: the rchar of each
# haul process (every read of a file or a socket), not by haul.
#
#   cargo build --release --bin haul && bash benches/checksum_cache.sh [FILES]
set -euo pipefail
H=${HAUL_BIN:-$PWD/target/release/haul}
N=${1:-2000}
D=$(mktemp -d /tmp/haul-cache-bench.XXXXXX)
SP=
trap '[ -n "$SP" ] && kill "$SP" 2>/dev/null; rm -rf "$D"' EXIT
mkdir -p "$D/src" "$D/root/bkt"
python3 - "$D/src" "$N" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = f"{root}/d{i % 20}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i:04}", "wb") as f:
        f.write(os.urandom(1 << 20))
PY
"$H" serve --root "$D/root" --addr 127.0.0.1:0 -q >"$D/serve.out" 2>/dev/null &
SP=$!
for _ in $(seq 50); do grep -q AWS_REGION "$D/serve.out" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^export' "$D/serve.out")"
run() {  # $1: journal
  local read
  read=$(sh -c '"$0" "$@" >"'"$D"'/last.json" 2>/dev/null; grep "^rchar:" /proc/$$/io' \
    "$H" --journal "$1" sync --checksum "$D/src" s3://bkt/t/ --json | awk '{print $2}')
  tail -1 "$D/last.json" | python3 -c '
import json, sys
s = json.load(sys.stdin)
read, done, skipped, how = int(sys.argv[1]), s["files_done"], s["files_skipped"], s.get("compared")
print(f"read {read:>14,} bytes  done {done:>5}  skipped {skipped:>5}  compared {how}")' "$read"
}
echo "first (empty bucket):   $(run "$D/j.db")"
echo "second (no change):     $(run "$D/j.db")"
python3 -c "
import os, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[100] ^= 1
os.remove(p); open(p, 'wb').write(b)" "$D/src/d7/f0007"
echo "third (one rewritten):  $(run "$D/j.db")"
echo "fresh journal:          $(run "$D/fresh.db")"
