#!/usr/bin/env bash
# A single-node Slurm cluster on this host, for tests and demos (see docs/local-slurm.md).
#
#   scripts/local-slurm.sh up       install (apt), configure and start munge, slurmctld, slurmd;
#                                   wait until the node is idle. Idempotent; restarts the
#                                   daemons only when the generated config changed.
#   scripts/local-slurm.sh down     stop slurmd and slurmctld (munged is left running).
#   scripts/local-slurm.sh status   print sinfo and squeue; exit 0 if the node is usable.
#
# The cluster: one node (`hostname -s`) with all its cores, memory a bit below the machine's,
# four GRES GPUs backed by dummy character devices /dev/fakegpu[0-3] and the feature `xpu`;
# partitions `cpu` (default) and `gpu`. Daemons run as root, without systemd or cgroups.
#
# Environment: LOCAL_SLURM_TIMEOUT (seconds to wait for the node, default 90).
set -euo pipefail

readonly CONF_DIR=/etc/slurm
readonly SLURM_CONF=$CONF_DIR/slurm.conf
readonly GRES_CONF=$CONF_DIR/gres.conf
readonly LOG_DIR=/var/log/slurm
readonly CTLD_SPOOL=/var/spool/slurmctld
readonly SLURMD_SPOOL=/var/spool/slurmd
readonly CTLD_PID=/run/slurmctld.pid
readonly SLURMD_PID=/run/slurmd.pid
readonly MUNGE_KEY=/etc/munge/munge.key
readonly MUNGE_PID=/run/munge/munged.pid
readonly MARKER="# Written by scripts/local-slurm.sh"
readonly TIMEOUT=${LOCAL_SLURM_TIMEOUT:-90}
readonly FAKE_GPUS=4

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

# Node topology as slurmd itself detects it (so the node does not drain for a mismatch),
# with CPUs from nproc and RealMemory a bit below the machine's memory.
node_line() {
  local host=$1 cpus mem_mb real_mem topo
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
  printf 'NodeName=%s NodeAddr=127.0.0.1 CPUs=%s %sRealMemory=%s Gres=gpu:%s Feature=xpu State=UNKNOWN\n' \
    "$host" "$cpus" "$topo" "$real_mem" "$FAKE_GPUS"
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
  local host=$1 nl cpus real_mem
  nl=$(node_line "$host")
  cpus=$(nproc)
  real_mem=$(grep -oE 'RealMemory=[0-9]+' <<<"$nl" | cut -d= -f2)
  cat <<EOF
$MARKER for host $host; rewritten by 'up'.
# libpmix.so (libpmix-dev, for srun --mpi=pmix): $(pmix_state)
ClusterName=localcluster
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
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$CTLD_SPOOL
SlurmdSpoolDir=$SLURMD_SPOOL
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=120
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
MinJobAge=300
Waittime=0
$nl
PartitionName=cpu Nodes=$host Default=YES MaxTime=04:00:00 State=UP OverSubscribe=FORCE:4
PartitionName=gpu Nodes=$host Default=NO MaxTime=04:00:00 State=UP OverSubscribe=FORCE:4
EOF
}

render_gres_conf() {
  printf '%s\nNodeName=%s Name=gpu File=/dev/fakegpu[0-%d]\n' "$MARKER" "$1" $((FAKE_GPUS - 1))
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
  install -d -m 0755 "$CONF_DIR" "$LOG_DIR"
  install -d -m 0755 "$CTLD_SPOOL" "$SLURMD_SPOOL"
  if install_conf "$SLURM_CONF" "$(render_slurm_conf "$host")"; then changed=0; fi
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

start_daemon() {  # start_daemon NAME: daemonizes itself and writes its pid file
  local name=$1 pidfile=$2
  log "starting $name"
  # stdin/stdout/stderr detached, so a caller capturing our output is not held open;
  # fd 9 (our lock) closed, so the daemon does not hold the lock after we exit.
  setsid "/usr/sbin/$name" </dev/null >>"$LOG_DIR/$name.stdout" 2>&1 9>&- \
    || { tail_logs; die "$name failed to start"; }
  local i
  for i in $(seq 1 40); do
    pid_alive "$pidfile" "$name" && return
    sleep 0.25
  done
  tail_logs
  die "$name did not write $pidfile"
}

tail_logs() {
  local f
  for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" "$LOG_DIR/slurmctld.stdout" \
    "$LOG_DIR/slurmd.stdout"; do
    [ -s "$f" ] || continue
    printf '\n==> %s (last 25 lines) <==\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
}

node_state() {  # compact sinfo state of our node, e.g. idle, mix, drain, idle*; empty if unknown
  sinfo -h -N -n "$1" -o '%t' 2>/dev/null | head -n 1 || true
}

state_ok() {
  case "$1" in idle | mix | alloc) return 0 ;; *) return 1 ;; esac
}

wait_for_node() {
  local host=$1 deadline state resumed=0 comp_since=""
  deadline=$((SECONDS + TIMEOUT))
  log "waiting up to ${TIMEOUT}s for node $host to be idle"
  while :; do
    state=$(node_state "$host")
    if state_ok "$state"; then
      log "node $host is $state"
      return
    fi
    case "$state" in
      drain* | drng* | down | fail*)
        # down* (not responding) usually clears by itself once slurmd registers.
        if [ $resumed -lt 3 ]; then
          log "node $host is $state ($(sinfo -h -R -n "$host" -o '%E' 2>/dev/null || true)); resuming it"
          scontrol update nodename="$host" state=resume || true
          resumed=$((resumed + 1))
        fi
        ;;
      comp*)
        # A job stuck in COMPLETING (e.g. its slurmstepd died) blocks the node; setting the
        # node down and resuming it is the standard way to clear it.
        comp_since=${comp_since:-$SECONDS}
        if [ $((SECONDS - comp_since)) -ge 15 ]; then
          log "node $host has been completing for 15s; setting it down and resuming it"
          scontrol update nodename="$host" state=down reason="local-slurm: stuck completing" || true
          scontrol update nodename="$host" state=resume || true
          comp_since=""
        fi
        ;;
    esac
    if [ $SECONDS -ge $deadline ]; then
      {
        echo "local-slurm: error: node $host not idle after ${TIMEOUT}s (state: '${state:-unknown}')"
        sinfo -R 2>&1 || true
        scontrol show node "$host" 2>&1 | grep -E 'State|Reason' || true
      } >&2
      tail_logs
      exit 1
    fi
    sleep 1
  done
}

# ------------------------------------------------------------------ commands

cmd_up() {
  local host changed=1 t0=$SECONDS
  host=$(hostname -s)
  log "bringing up a single-node Slurm cluster on $host"
  install_packages
  setup_munge
  make_fake_gpus
  if write_configs "$host"; then changed=0; fi
  if [ $changed -eq 0 ]; then
    if pid_alive "$CTLD_PID" slurmctld || pid_alive "$SLURMD_PID" slurmd; then
      log "configuration changed: restarting the daemons"
    fi
    stop_daemon slurmd "$SLURMD_PID"
    stop_daemon slurmctld "$CTLD_PID"
  else
    log "configuration unchanged"
  fi
  if pid_alive "$CTLD_PID" slurmctld; then
    log "slurmctld is running (pid $(cat "$CTLD_PID"))"
  else
    start_daemon slurmctld "$CTLD_PID"
  fi
  if pid_alive "$SLURMD_PID" slurmd; then
    log "slurmd is running (pid $(cat "$SLURMD_PID"))"
  else
    start_daemon slurmd "$SLURMD_PID"
  fi
  wait_for_node "$host"
  sinfo
  log "up in $((SECONDS - t0))s"
}

cmd_down() {
  stop_daemon slurmd "$SLURMD_PID"
  stop_daemon slurmctld "$CTLD_PID"
  log "slurm is down (munged left running)"
}

cmd_status() {
  local host state
  host=$(hostname -s)
  if ! command -v sinfo >/dev/null 2>&1; then
    log "slurm is not installed (no sinfo)"
    return 1
  fi
  sinfo 2>&1 || true
  squeue 2>&1 || true
  state=$(node_state "$host")
  if state_ok "$state"; then
    log "node $host is $state"
    return 0
  fi
  log "node $host is not usable (state: '${state:-unknown}')"
  sinfo -R 2>/dev/null || true
  return 1
}

lock() {  # one `up` or `down` at a time (make test and a developer may race)
  exec 9>/run/local-slurm.lock
  if ! flock -w 300 9; then die "another local-slurm.sh up/down has held /run/local-slurm.lock for 300s"; fi
}

main() {
  case "${1:-}" in
    up) need_root up; lock; cmd_up ;;
    down) need_root down; lock; cmd_down ;;
    status) cmd_status ;;
    *)
      echo "usage: $0 up|down|status" >&2
      exit 2
      ;;
  esac
}

main "$@"
