# Shared helpers of the benchmark scripts (bench/run, bench/market): messages,
# the cleanup trap that stops every server and datastore a script started,
# measuring tools run in the background, small JSON and arithmetic helpers.
#
# Source it after setting PROG (the script's name for messages), ROOT, LOG
# (the file measure() appends raw output to) and START_TIMEOUT (seconds for
# a server to answer). It installs the EXIT, INT and TERM traps.

msg() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  msg "error: $*"
  exit 1
}

work=           # temporary directory: datastores, scratch files
child=          # pid of the measuring tool running now
declare -a servers=() # pids of the servers this script started
pg_up=0 redis_up=0

cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  if [[ -n $child ]]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  for pid in "${servers[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${servers[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      msg "pid $pid did not stop in 5 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $work ]]; then
    ((redis_up)) && { "$ROOT/deploy/datastores" stop-redis "$work" || rc=1; }
    ((pg_up)) && { "$ROOT/deploy/datastores" stop-pg "$work" || rc=1; }
    rm -rf -- "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# measure OUT CMD...: runs CMD with its output in OUT, appended to the log.
# In the background and waited for, so that a signal stops it at once.
measure() {
  local out=$1 rc=0
  shift
  printf '\n$ %s\n' "$*" >>"$LOG"
  "$@" >"$out" 2>&1 &
  child=$!
  wait "$child" || rc=$?
  child=
  cat -- "$out" >>"$LOG"
  return "$rc"
}

# calc EXPR: evaluates a floating-point expression with awk.
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

# verdict VALUE OP GOAL: PASS when VALUE OP GOAL holds (OP is >= or <), else MISS.
verdict() {
  if [[ -z $1 || $1 == null ]]; then
    echo MISS
  elif awk "BEGIN { exit !($1 $2 $3) }"; then
    echo PASS
  else
    echo MISS
  fi
}

# json_field NAME JSON: the value of a top-level number or string field.
json_field() {
  local re="\"$1\"[[:space:]]*:[[:space:]]*(\"([^\"]*)\"|([-0-9.eE+]+|null))"
  [[ $2 =~ $re ]] || return 1
  printf '%s\n' "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
}

# idle_percent SECONDS: how idle all the CPUs were over the next SECONDS, in %.
idle_percent() {
  local -a a b
  read -r -a a </proc/stat
  sleep "$1"
  read -r -a b </proc/stat
  # cpu user nice system idle iowait irq softirq steal
  awk -v a="${a[*]:1:8}" -v b="${b[*]:1:8}" 'BEGIN {
    split(a, x); split(b, y); t = 0
    for (i = 1; i <= 8; i++) t += y[i] - x[i]
    printf "%d", (t > 0 ? 100 * (y[4] - x[4]) / t : 100) }'
}

# wait_http URL PID LOG: waits until URL answers 200 while PID lives.
wait_http() {
  local url=$1 pid=$2 log=$3 i
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 -- "$log" >&2 || true
      die "pid $pid exited before $url answered"
    fi
    sleep 0.1
  done
  tail -n 20 -- "$log" >&2 || true
  die "$url did not answer 200 within ${START_TIMEOUT}s"
}

# find_pgbench: sets PGBENCH to pgbench beside the server deploy/datastores
# runs (ERRAND_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin), else
# the one on the PATH; dies if there is none.
find_pgbench() {
  local p
  PGBENCH=
  if [[ -n ${ERRAND_PG_BINDIR:-} ]]; then
    PGBENCH=$ERRAND_PG_BINDIR/pgbench
  else
    for p in /usr/lib/postgresql/*/bin/pgbench; do
      [[ -x $p ]] && PGBENCH=$p # the glob sorts 15 before 16; versions below 10 do not matter
    done
  fi
  [[ -x $PGBENCH ]] || PGBENCH=$(command -v pgbench || true)
  [[ -n $PGBENCH ]] || die "pgbench was not found (package postgresql-client-15)"
}
