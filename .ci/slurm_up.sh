#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for the tests of `specct run --executor slurm`: Debian's
# slurmctld, slurmd and munge, configured for localhost and started. Needs root and apt-get; where
# either is missing it says so and exits 1 (the Slurm tests then skip, saying sbatch is missing).
#   .ci/slurm_up.sh          install (if needed), configure, start; waits until the node is idle
#   .ci/slurm_up.sh stop     stop the daemons
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/spool/specct-slurm

if [[ "${1:-}" == "stop" ]]; then
  for pidfile in "$STATE"/slurmd.pid "$STATE"/slurmctld.pid /run/munge/munged.pid; do
    [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  echo "slurm_up: needs root (to install and start slurmctld, slurmd and munge)" >&2; exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || { echo "slurm_up: no apt-get to install Slurm with" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
mkdir -p "$CONF_DIR" "$STATE"/ctld "$STATE"/d /run/munge /var/log/munge /var/lib/munge
# the process tracker and task plugins that need no cgroups (a container rarely lets Slurm manage them)
cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=specct
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

[[ -s /etc/munge/munge.key ]] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || munged --force
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 60); do
  if sinfo -h -N -o "%T" 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; then
    scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
    echo "slurm_up: one-node cluster up ($host, $cpus CPUs, partition debug)"; exit 0
  fi
  sleep 1
done
echo "slurm_up: the node did not come up; see $STATE/slurmctld.log and $STATE/slurmd.log" >&2
exit 1
