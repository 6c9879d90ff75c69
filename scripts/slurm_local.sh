#!/usr/bin/env bash
# A one-node SLURM cluster on this machine: for mlplab's `slurm` tests, and to try
# `mlplab-train -m hydra/launcher=slurm …` before a real cluster.
#
#   scripts/slurm_local.sh up       install Debian's slurm-wlm + munge (when missing and root),
#                                   write /etc/slurm/slurm.conf (one node: this host, nproc CPUs,
#                                   memory from /proc/meminfo), start munged, slurmctld, slurmd
#   scripts/slurm_local.sh down     cancel every job, stop the daemons
#   scripts/slurm_local.sh status   sinfo and squeue; exit 0 only when the node is up
#
# No accounting database: submitit warns that `sacct` is missing, which is harmless.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
SPOOL=/var/spool/slurm-mlplab
LOGS=/var/log/slurm-mlplab

die() { echo "slurm_local: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  is_root || die "slurm-wlm and munge are not installed, and installing them needs root"
  command -v apt-get >/dev/null || die "slurm-wlm is not installed and there is no apt-get to install it"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
  local host cpus mem_mb
  host=$(hostname -s)
  cpus=$(nproc)
  mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024 ))  # leave 1 GiB to the OS
  mkdir -p "$(dirname "$CONF")" "$SPOOL/ctld" "$SPOOL/d" "$LOGS"
  cat > "$CONF.new" <<CONF
# written by mlplab's scripts/slurm_local.sh: one node, this machine
ClusterName=mlplab
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
# seconds between a step's SIGTERM and its SIGKILL. A job that submitit requeues at its time limit
# runs \`scontrol requeue\` on itself; now and then the step then sits out the whole wait before the
# SIGKILL (srun: "Waiting up to KillWait+2 seconds"). 10 s bound that wait here and leave a
# stopped mlplab run time to finish its epoch and write its checkpoint (a second or two at most).
KillWait=10
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  if cmp -s "$CONF.new" "$CONF"; then rm -f "$CONF.new"; return; fi
  mv "$CONF.new" "$CONF"
  # daemons already running read the new file now
  if pgrep -x slurmctld >/dev/null; then scontrol reconfigure >/dev/null || true; fi
}

node_state() { sinfo -h -o %T 2>/dev/null | head -n 1; }

up() {
  # munged, slurmctld and slurmd run as daemons of the machine, /etc/slurm is root's
  is_root || die "starting the local cluster needs root: sudo bash $0 up"
  install
  [ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || \
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
  write_conf
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd
  for _ in $(seq 60); do
    case "$(node_state)" in
      idle*|mixed*|allocated*) echo "slurm_local: node $(hostname -s) is up ($(nproc) CPUs)"; return 0 ;;
      down*|drain*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
  done
  die "the node did not come up within 60 s; see $LOGS/slurmctld.log and $LOGS/slurmd.log"
}

down() {
  is_root || die "stopping the local cluster needs root: sudo bash $0 down"
  squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true  # every user's
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
  echo "slurm_local: stopped"
}

status() {
  sinfo && squeue
  # planned: the scheduler has set the node aside for a waiting job; completing: a job's end is
  # being cleaned up. Both are a working node between jobs.
  case "$(node_state)" in idle*|mixed*|allocated*|planned*|completing*) return 0 ;; *) return 1 ;; esac
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
