#!/usr/bin/env bash
# A local Slurm cluster of several nodes on this one host, for tests and demos
# (see docs/local-slurm.md).
#
#   scripts/local-slurm.sh up       install (apt), configure and start munge, slurmctld and one
#                                   slurmd per node; wait until every node is idle. Idempotent;
#                                   restarts the daemons only when the generated config changed.
#   scripts/local-slurm.sh down     stop the slurmds and slurmctld (munged is left running).
#   scripts/local-slurm.sh status   print sinfo and squeue; exit 0 if every node is usable.
#   scripts/local-slurm.sh env      print `export SLURM_CONF=...` for this instance.
#
# The cluster: LOCAL_SLURM_NODES nodes (default 2) on this machine, in Slurm's
# multiple-slurmd mode: one slurmd per node (`slurmd -N NODE`), each on its own port, all at
# 127.0.0.1. The first node is `hostname -s`, the others `hostname -s`-2, -3, ...; each has
# all the machine's cores (the nodes share them), memory a bit below the machine's, four GRES
# GPUs backed by dummy character devices /dev/fakegpu[0-3] and the feature `xpu`; partitions
# `cpu` (default) and `gpu` span all nodes. Daemons run as root, without systemd or cgroups.
#
# Environment:
#   LOCAL_SLURM_TIMEOUT   seconds to wait for the nodes (default 90)
#   LOCAL_SLURM_NODES     number of nodes (default 2)
#   LOCAL_SLURM_PREFIX    a private instance: config, state, logs, pids and lock under this
#                         directory instead of /etc/slurm, /var/spool, /var/log/slurm, /run;
#                         clients use it with SLURM_CONF=$LOCAL_SLURM_PREFIX/etc/slurm.conf
#   LOCAL_SLURM_PORT      slurmctld's port (default 6817); node i's slurmd listens on PORT+i
#   LOCAL_SLURM_CLUSTER   ClusterName (default localcluster)
set -euo pipefail

readonly PREFIX=${LOCAL_SLURM_PREFIX:-}
if [ -n "$PREFIX" ]; then
  case "$PREFIX" in /*) ;; *) echo "local-slurm: error: LOCAL_SLURM_PREFIX must be absolute" >&2; exit 2 ;; esac
  readonly CONF_DIR=$PREFIX/etc
  readonly LOG_DIR=$PREFIX/log
  readonly CTLD_SPOOL=$PREFIX/spool/slurmctld
  readonly SLURMD_SPOOL_BASE=$PREFIX/spool/slurmd
  readonly PID_DIR=$PREFIX/run
  readonly LOCK_FILE=$PREFIX/run/local-slurm.lock
else
  readonly CONF_DIR=/etc/slurm
  readonly LOG_DIR=/var/log/slurm
  readonly CTLD_SPOOL=/var/spool/slurmctld
  readonly SLURMD_SPOOL_BASE=/var/spool/slurmd
  readonly PID_DIR=/run
  readonly LOCK_FILE=/run/local-slurm.lock
fi
readonly SLURM_CONF_FILE=$CONF_DIR/slurm.conf
readonly GRES_CONF=$CONF_DIR/gres.conf
readonly CTLD_PID=$PID_DIR/slurmctld.pid
readonly LEGACY_SLURMD_PID=$PID_DIR/slurmd.pid   # the one-node layout before multiple slurmds
readonly CTLD_PORT=${LOCAL_SLURM_PORT:-6817}
readonly CLUSTER_NAME=${LOCAL_SLURM_CLUSTER:-localcluster}
readonly NODES=${LOCAL_SLURM_NODES:-2}
readonly MUNGE_KEY=/etc/munge/munge.key
readonly MUNGE_PID=/run/munge/munged.pid
readonly MARKER="# Written by scripts/local-slurm.sh"
readonly TIMEOUT=${LOCAL_SLURM_TIMEOUT:-90}
readonly FAKE_GPUS=4
# Every Slurm command this script runs (and the daemons it starts) reads this config.
export SLURM_CONF=$SLURM_CONF_FILE

log() { printf 'local-slurm: %s\n' "$*"; }
die() { printf 'local-slurm: error: %s\n' "$*" >&2; exit 1; }
run() { log "+ $*"; "$@"; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "'$1' must run as root (it installs packages and starts daemons)"
}

# ------------------------------------------------------------------ packages

install_packages() {
  local missing=() pkg
  command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
  command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
  command -v sinfo >/dev/null 2>&1 || missing+=(slurm-client)
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  if [ ${#missing[@]} -eq 0 ]; then
    log "packages: slurmctld, slurmd, slurm-client and munge are installed"
    return
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  # The slurm-wlm metapackage is exactly slurmctld + slurmd + slurm-client (+ docs);
  # install the parts so a partial install is completed.
  export DEBIAN_FRONTEND=noninteractive
  local apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)
  for pkg in "${missing[@]}"; do
    # (no `| grep -q`: with pipefail, grep quitting early fails the pipeline)
    if [ -z "$(apt-cache show "$pkg" 2>/dev/null | grep '^Version:' || true)" ]; then
      run apt-get update -q
      break
    fi
  done
  # Package scripts must not try to start services (there is no systemd here);
  # a policy-rc.d that says "no" is the Debian way to ask for that.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  if ! run apt-get install "${apt_opts[@]}" "${missing[@]}"; then
    log "apt-get install failed; refreshing the package lists and trying again"
    run apt-get update -q
    if ! run apt-get install "${apt_opts[@]}" "${missing[@]}"; then
      if [ $own_policy -eq 1 ]; then rm -f "$policy"; fi
      die "could not install ${missing[*]}"
    fi
  fi
  if [ $own_policy -eq 1 ]; then rm -f "$policy"; fi
  log "installed: $(dpkg-query -W -f='${Package} ${Version}  ' "${missing[@]}")"
}

# ------------------------------------------------------------------ munge

proc_alive() {  # proc_alive PID: the process exists and is not a zombie
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

pid_alive() {  # pid_alive PIDFILE COMM: the pid in PIDFILE is a live process named COMM
  local pid
  [ -r "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && proc_alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

setup_munge() {
  getent passwd munge >/dev/null || die "user 'munge' is missing (is the munge package installed?)"
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge
  install -d -o munge -g munge -m 0700 /var/log/munge
  install -d -o munge -g munge -m 0755 /run/munge
  if [ ! -s "$MUNGE_KEY" ]; then
    log "creating munge key $MUNGE_KEY"
    if command -v mungekey >/dev/null 2>&1; then
      mungekey --create --keyfile="$MUNGE_KEY" --force
    else
      dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
    fi
  fi
  chown munge:munge "$MUNGE_KEY"
  chmod 0400 "$MUNGE_KEY"
  if pid_alive "$MUNGE_PID" munged; then
    log "munged is running (pid $(cat "$MUNGE_PID"))"
  else
    log "starting munged"
    rm -f "$MUNGE_PID" /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1 9>&- \
      || die "munged did not start; see /var/log/munge/munged.log"
  fi
  local i
  for i in $(seq 1 20); do
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
      log "munge works (munge -n | unmunge)"
      return
    fi
    sleep 0.5
  done
  tail -n 20 /var/log/munge/munged.log >&2 || true
  die "munge -n | unmunge fails"
}

# ------------------------------------------------------------------ config

# Node names: the first is the host's own name (so `hostname -s` names a node, as on a real
# cluster), the others HOST-2, HOST-3, ... All share this machine (multiple-slurmd mode).
node_names() {
  local host=$1 i
  echo "$host"
  for ((i = 2; i <= NODES; i++)); do echo "$host-$i"; done
}

node_port() {  # node_port INDEX (1-based): the slurmd port of the INDEX-th node
  echo $((CTLD_PORT + $1))
}

# Node topology as slurmd itself detects it (so the node does not drain for a mismatch),
# with CPUs from nproc and RealMemory a bit below the machine's memory. Every node declares
# the whole machine: the nodes share its cores and memory (enough for tests).
node_line() {
  local host=$1 name=$2 index=$3 cpus mem_mb real_mem topo
  cpus=$(nproc)
  mem_mb=$(free -m | awk '/^Mem:/ {print $2}')
  real_mem=$((mem_mb - mem_mb / 20))             # 95% of the machine
  [ $((mem_mb - real_mem)) -ge 256 ] || real_mem=$((mem_mb - 256))
  topo=$(slurmd -C 2>/dev/null || true)   # captured first: no early-exiting reader in a pipe
  topo=$(grep -m 1 '^NodeName=' <<<"$topo" \
    | grep -oE '(Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=[0-9]+' | tr '\n' ' ' || true)
  # slurmd -C counts all CPUs of the machine; keep its topology only when it agrees with nproc.
  if [ -n "$topo" ]; then
    local b s c t
    b=$(sed -E 's/.*Boards=([0-9]+).*/\1/' <<<"$topo")
    s=$(sed -E 's/.*SocketsPerBoard=([0-9]+).*/\1/' <<<"$topo")
    c=$(sed -E 's/.*CoresPerSocket=([0-9]+).*/\1/' <<<"$topo")
    t=$(sed -E 's/.*ThreadsPerCore=([0-9]+).*/\1/' <<<"$topo")
    [ $((b * s * c * t)) -eq "$cpus" ] || topo=""
  fi
  # Weight: single-node jobs go to the first node unless it is full, as before (tests that
  # check `hostname -s` keep passing); multi-node jobs get both.
  printf 'NodeName=%s NodeHostname=%s NodeAddr=127.0.0.1 Port=%s Weight=%s CPUs=%s %sRealMemory=%s Gres=gpu:%s Feature=xpu State=UNKNOWN\n' \
    "$name" "$host" "$(node_port "$index")" "$index" "$cpus" "$topo" "$real_mem" "$FAKE_GPUS"
}

# Slurm's mpi/pmix plugin dlopens libpmix.so (from libpmix-dev, which Debian's Open MPI pulls
# in) once, when a daemon starts. If it appears later (Open MPI installed after `up`), srun
# loads it but slurmd cannot, and an `srun --mpi=pmix` step hangs with the node stuck in
# COMPLETING. Recording it in slurm.conf makes `up` restart the daemons when it changes.
pmix_state() {
  local cache
  cache=$(ldconfig -p 2>/dev/null || true)
  if grep -q 'libpmix\.so ' <<<"$cache"; then echo present; else echo absent; fi
}

render_slurm_conf() {
  local host=$1 nl="" cpus real_mem name index=0 nodelist
  for name in $(node_names "$host"); do
    index=$((index + 1))
    nl+="$(node_line "$host" "$name" "$index")"$'\n'
  done
  nl=${nl%$'\n'}
  nodelist=$(node_names "$host" | paste -sd, -)
  cpus=$(nproc)
  real_mem=$(grep -m 1 -oE 'RealMemory=[0-9]+' <<<"$nl" | cut -d= -f2)
  cat <<EOF
$MARKER for host $host, $NODES nodes; rewritten by 'up'.
# libpmix.so (libpmix-dev, for srun --mpi=pmix): $(pmix_state)
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=pmi2
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((real_mem / cpus))
GresTypes=gpu
ReturnToService=2
SlurmctldPort=$CTLD_PORT
SlurmdPort=$(node_port 1)
StateSaveLocation=$CTLD_SPOOL
# %n: the node's name (multiple-slurmd mode: each slurmd its own spool, pid file and log)
SlurmdSpoolDir=$SLURMD_SPOOL_BASE/%n
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$PID_DIR/slurmd-%n.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=120
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
MinJobAge=300
Waittime=0
$nl
PartitionName=cpu Nodes=$nodelist Default=YES MaxTime=04:00:00 State=UP OverSubscribe=FORCE:4
PartitionName=gpu Nodes=$nodelist Default=NO MaxTime=04:00:00 State=UP OverSubscribe=FORCE:4
EOF
}

render_gres_conf() {  # every node's four GPUs are the same dummy devices
  printf '%s\nNodeName=%s Name=gpu File=/dev/fakegpu[0-%d]\n' "$MARKER" \
    "$(node_names "$1" | paste -sd, -)" $((FAKE_GPUS - 1))
}

make_fake_gpus() {
  local i dev
  for ((i = 0; i < FAKE_GPUS; i++)); do
    dev=/dev/fakegpu$i
    if [ ! -c "$dev" ]; then
      rm -f "$dev"
      run mknod -m 0666 "$dev" c 1 3   # same major/minor as /dev/null
    fi
  done
}

# install_conf FILE CONTENT: write FILE if it differs; return 0 if it changed, 1 if not.
install_conf() {
  local file=$1 content=$2
  if [ -f "$file" ] && [ "$(cat "$file")" = "$content" ]; then
    return 1
  fi
  if [ -f "$file" ] && [[ "$(head -n 1 "$file")" != "$MARKER"* ]]; then
    local backup
    backup="$file.bak.$(date +%Y%m%d%H%M%S)"
    log "keeping the existing $file as $backup"
    cp -p "$file" "$backup"
  fi
  printf '%s\n' "$content" >"$file"
  chmod 0644 "$file"
  log "wrote $file"
  return 0
}

write_configs() {  # returns 0 when a config file changed
  local host=$1 changed=1
  local name
  install -d -m 0755 "$CONF_DIR" "$LOG_DIR" "$PID_DIR"
  install -d -m 0755 "$CTLD_SPOOL" "$SLURMD_SPOOL_BASE"
  for name in $(node_names "$host"); do install -d -m 0755 "$SLURMD_SPOOL_BASE/$name"; done
  if install_conf "$SLURM_CONF_FILE" "$(render_slurm_conf "$host")"; then changed=0; fi
  if install_conf "$GRES_CONF" "$(render_gres_conf "$host")"; then changed=0; fi
  # cgroup.conf is only read by cgroup plugins, which this config does not use.
  return $changed
}

# ------------------------------------------------------------------ daemons

stop_daemon() {  # stop_daemon NAME PIDFILE
  local name=$1 pidfile=$2 pid i
  if ! pid_alive "$pidfile" "$name"; then
    log "$name is not running"
    rm -f "$pidfile"
    return
  fi
  pid=$(cat "$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do
    proc_alive "$pid" || { rm -f "$pidfile"; return; }
    sleep 0.5
  done
  log "$name did not stop in 30 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

start_daemon() {  # start_daemon NAME PIDFILE [ARGS...]: daemonizes itself, writes PIDFILE
  local name=$1 pidfile=$2
  shift 2
  log "starting $name $*"
  # stdin/stdout/stderr detached, so a caller capturing our output is not held open;
  # fd 9 (our lock) closed, so the daemon does not hold the lock after we exit.
  setsid "/usr/sbin/$name" "$@" </dev/null >>"$LOG_DIR/$name.stdout" 2>&1 9>&- \
    || { tail_logs; die "$name $* failed to start"; }
  local i
  for i in $(seq 1 40); do
    pid_alive "$pidfile" "$name" && return
    sleep 0.25
  done
  tail_logs
  die "$name $* did not write $pidfile"
}

slurmd_pid() { echo "$PID_DIR/slurmd-$1.pid"; }

# Every slurmd this script may have started: one per node pid file, and the single slurmd of
# the one-node layout this script used before (its pid file was slurmd.pid).
stop_slurmds() {
  local f
  for f in "$PID_DIR"/slurmd-*.pid "$LEGACY_SLURMD_PID"; do
    [ -e "$f" ] || continue
    stop_daemon slurmd "$f"
  done
}

tail_logs() {
  local f
  for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR"/slurmd*.log "$LOG_DIR/slurmctld.stdout" \
    "$LOG_DIR/slurmd.stdout"; do
    [ -s "$f" ] || continue
    printf '\n==> %s (last 25 lines) <==\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
}

node_state() {  # compact sinfo state of a node, e.g. idle, mix, drain, idle*; empty if unknown
  sinfo -h -N -n "$1" -o '%t' 2>/dev/null | head -n 1 || true
}

state_ok() {
  case "$1" in idle | mix | alloc) return 0 ;; *) return 1 ;; esac
}

wait_for_node() {
  local node=$1 deadline state resumed=0 comp_since=""
  deadline=$((SECONDS + TIMEOUT))
  log "waiting up to ${TIMEOUT}s for node $node to be idle"
  while :; do
    state=$(node_state "$node")
    if state_ok "$state"; then
      log "node $node is $state"
      return
    fi
    case "$state" in
      drain* | drng* | down | fail*)
        # down* (not responding) usually clears by itself once slurmd registers.
        if [ $resumed -lt 3 ]; then
          log "node $node is $state ($(sinfo -h -R -n "$node" -o '%E' 2>/dev/null || true)); resuming it"
          scontrol update nodename="$node" state=resume || true
          resumed=$((resumed + 1))
        fi
        ;;
      comp*)
        # A job stuck in COMPLETING (e.g. its slurmstepd died) blocks the node; setting the
        # node down and resuming it is the standard way to clear it.
        comp_since=${comp_since:-$SECONDS}
        if [ $((SECONDS - comp_since)) -ge 15 ]; then
          log "node $node has been completing for 15s; setting it down and resuming it"
          scontrol update nodename="$node" state=down reason="local-slurm: stuck completing" || true
          scontrol update nodename="$node" state=resume || true
          comp_since=""
        fi
        ;;
    esac
    if [ $SECONDS -ge $deadline ]; then
      {
        echo "local-slurm: error: node $node not idle after ${TIMEOUT}s (state: '${state:-unknown}')"
        sinfo -R 2>&1 || true
        scontrol show node "$node" 2>&1 | grep -E 'State|Reason' || true
      } >&2
      tail_logs
      exit 1
    fi
    sleep 1
  done
}

# ------------------------------------------------------------------ commands

cmd_up() {
  local host changed=1 t0=$SECONDS name pidfile
  host=$(hostname -s)
  case "$NODES" in '' | *[!0-9]* | 0) die "LOCAL_SLURM_NODES must be a positive number, not '$NODES'" ;; esac
  log "bringing up a $NODES-node Slurm cluster ($CLUSTER_NAME, $SLURM_CONF_FILE) on $host"
  install_packages
  setup_munge
  make_fake_gpus
  if write_configs "$host"; then changed=0; fi
  if [ $changed -eq 0 ]; then
    if pid_alive "$CTLD_PID" slurmctld; then
      log "configuration changed: restarting the daemons"
    fi
    stop_slurmds
    stop_daemon slurmctld "$CTLD_PID"
  else
    log "configuration unchanged"
  fi
  if pid_alive "$CTLD_PID" slurmctld; then
    log "slurmctld is running (pid $(cat "$CTLD_PID"))"
  else
    start_daemon slurmctld "$CTLD_PID"
  fi
  for name in $(node_names "$host"); do
    pidfile=$(slurmd_pid "$name")
    if pid_alive "$pidfile" slurmd; then
      log "slurmd of $name is running (pid $(cat "$pidfile"))"
    else
      start_daemon slurmd "$pidfile" -N "$name"
    fi
  done
  for name in $(node_names "$host"); do wait_for_node "$name"; done
  sinfo
  log "up in $((SECONDS - t0))s; clients: export SLURM_CONF=$SLURM_CONF_FILE"
}

cmd_down() {
  stop_slurmds
  stop_daemon slurmctld "$CTLD_PID"
  log "slurm is down (munged left running)"
}

cmd_status() {
  local host state name bad=0
  host=$(hostname -s)
  if ! command -v sinfo >/dev/null 2>&1; then
    log "slurm is not installed (no sinfo)"
    return 1
  fi
  sinfo 2>&1 || true
  squeue 2>&1 || true
  for name in $(node_names "$host"); do
    state=$(node_state "$name")
    if state_ok "$state"; then
      log "node $name is $state"
    else
      log "node $name is not usable (state: '${state:-unknown}')"
      bad=1
    fi
  done
  if [ $bad -ne 0 ]; then sinfo -R 2>/dev/null || true; fi
  return $bad
}

lock() {  # one `up` or `down` at a time (make test and a developer may race)
  install -d -m 0755 "$(dirname "$LOCK_FILE")"
  exec 9>"$LOCK_FILE"
  if ! flock -w 300 9; then die "another local-slurm.sh up/down has held $LOCK_FILE for 300s"; fi
}

main() {
  case "${1:-}" in
    up) need_root up; lock; cmd_up ;;
    down) need_root down; lock; cmd_down ;;
    status) cmd_status ;;
    env) echo "export SLURM_CONF=$SLURM_CONF_FILE" ;;
    *)
      echo "usage: $0 up|down|status|env" >&2
      exit 2
      ;;
  esac
}

main "$@"
