#!/bin/sh
# A Slurm job array over --split K/N, run for real: starts a one-node Slurm
# cluster on this machine from Debian's slurm-wlm and munge (a munge key,
# munged, slurmctld and slurmd, all in a temporary folder with their own
# sockets and ports), submits an array of N tasks with sbatch --wait, each
# running `lookahead --split $SLURM_ARRAY_TASK_ID/N`, and checks that the
# tasks' outputs joined in order equal one run's output byte for byte and
# that merge-stats of their reports equals one run's report. Everything it
# started is stopped and removed on the way out.
# Usage: tests/slurm/job_array.sh path/to/lookahead
# Installs slurmctld, slurmd, slurm-client and munge (Debian) when missing.
# Exit 0: passed; 1: failed; 77: the cluster could not be started (the
# reason is printed; `make test-slurm` treats it as a failure unless
# SLURM_TEST_OPTIONAL=1).
set -u
[ $# = 1 ] || { echo "usage: $0 path/to/lookahead" >&2; exit 2; }
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
skip() { echo "slurm job array: NOT RUN: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "starting munged, slurmctld and slurmd takes root (run as root, or in CI)"
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 ||
   ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    echo "installing Debian packages: slurmctld slurmd slurm-client munge" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 || {
        apt-get update >/dev/null 2>&1
        apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1
    } || skip "apt-get could not install slurmctld slurmd slurm-client munge"
fi
for c in mungekey munged slurmctld slurmd sbatch sinfo python3; do
    command -v $c >/dev/null 2>&1 || skip "$c is missing: apt-get install slurmctld slurmd slurm-client munge"
done
work=$(mktemp -d)
chmod 755 "$work"
pids=""
stop() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do   # each pid is one this script started; give it 10 s
        i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
        kill -9 "$p" 2>/dev/null
    done
    rm -rf "$work"
}
trap stop EXIT
trap 'exit 1' INT TERM
log() { for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; }

# munge: a key of our own, a daemon on a socket of our own
mkdir -p "$work/munge" && chmod 700 "$work/munge"
mungekey --create --keyfile="$work/munge/munge.key" 2>"$work/mungekey.log" || { log; skip "mungekey failed"; }
munged --foreground --force --socket="$work/munge/sock" --key-file="$work/munge/munge.key" \
    --pid-file="$work/munge/pid" --log-file="$work/munged.log" --seed-file="$work/munge/seed" 2>>"$work/munged.log" &
pids="$pids $!"

# two free TCP ports for slurmctld and slurmd
ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
set -- $ports
host=$(hostname -s)
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<CONF
ClusterName=lookaheadtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
# wait for munged's socket before the Slurm daemons need it
i=0; while [ ! -S "$work/munge/sock" ] && [ $i -lt 40 ]; do sleep 0.25; i=$((i + 1)); done
[ -S "$work/munge/sock" ] || { log; skip "munged did not start"; }
slurmctld -D -i -f "$SLURM_CONF" >>"$work/slurmctld.log" 2>&1 &
pids="$pids $!"
slurmd -D -f "$SLURM_CONF" >>"$work/slurmd.log" 2>&1 &
pids="$pids $!"
i=0
until sinfo -h -o %t 2>/dev/null | grep -qx 'idle'; do
    i=$((i + 1))
    [ $i -lt 120 ] || { log; skip "the node did not come up within 60 s (sinfo: $(sinfo -h -o %t 2>&1))"; }
    sleep 0.5
done

# the data, one run, and the job array
n=4
awk 'BEGIN { for (i = 0; i < 3000; i++) { printf "{\"question\":\"q%d?\",\"answer\":\"answer %d is %s\"}\n", i, i,
    substr("one two three four five six seven", 1, 3 + i % 30); if (i % 211 == 5) print "{\"question\":\"bad\"}" } }' \
    > "$work/train.jsonl"
"$bin" -q --input-field question --output-field answer --on-error skip --stats "$work/one.json" \
    "$work/train.jsonl" > "$work/one.jsonl" 2>/dev/null || { echo "slurm job array: FAILED: the single run failed"; exit 1; }
cat > "$work/split.sh" <<JOB
#!/bin/sh
exec "$bin" -q --input-field question --output-field answer --on-error skip \\
    --split "\$SLURM_ARRAY_TASK_ID/$n" --stats "$work/part\$SLURM_ARRAY_TASK_ID.json" \\
    -o "$work/part\$SLURM_ARRAY_TASK_ID.jsonl" "$work/train.jsonl"
JOB
chmod +x "$work/split.sh"
if ! (cd "$work" && timeout 300 sbatch --wait --quiet --array=0-$((n - 1)) -o "$work/task%a.log" "$work/split.sh"); then
    log; echo "slurm job array: FAILED: sbatch --wait reported a failed task"; exit 1
fi
k=0; : > "$work/joined.jsonl"
while [ $k -lt $n ]; do cat "$work/part$k.jsonl" >> "$work/joined.jsonl" || exit 1; k=$((k + 1)); done
cmp -s "$work/one.jsonl" "$work/joined.jsonl" || { echo "slurm job array: FAILED: joined output differs"; exit 1; }
"$bin" merge-stats "$work"/part*.json | grep -v '"seconds"' > "$work/merged.txt"
grep -v '"seconds"' "$work/one.json" > "$work/one.txt"
cmp -s "$work/one.txt" "$work/merged.txt" || { echo "slurm job array: FAILED: merged report differs"; exit 1; }
echo "slurm job array: $n tasks of --split K/$n on a one-node cluster: joined output and merged report equal one run's ($(wc -l < "$work/one.jsonl") records)"
