#!/usr/bin/env bash
# The sweep's Slurm array on a real single-host Slurm: Debian's slurm-wlm and munge (installed with
# apt-get when missing, as root), a munged, a slurmctld and a slurmd started on this machine from a
# slurm.conf written into a temporary folder (one node, no cgroups, no accounting, ports picked here),
# all stopped again on exit. The array runs two tiny tasks (MEMIT and D4S, 8 edits each on the real
# stories260K); once each has made an edit, task 0 gets SIGUSR1 in its batch shell (what
# `#SBATCH --signal=B:USR1@S` sends before the time limit: the script passes it to kedit, which stops
# with its state saved, and requeues its own job) and task 1 is requeued with `scontrol requeue` (what a
# preemption does: SIGTERM, Slurm requeues it). Both must start again, continue their results files,
# and give the `kedit table` of the same sweep run without Slurm and without interruptions.
#
# Run from the repository root after `make`: tests/slurm/run.sh (or make test-slurm). Exit 0: passed;
# 1: failed; 77: skipped (printed as SKIP with the reason: no shared data, not root and Slurm absent,
# apt-get failed, a daemon would not start).
set -u
cd "$(dirname "$0")/../.." || exit 1
KEDIT=$PWD/bin/kedit
DATA=${KEDIT_DATA:-../shared/data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

skip() { echo "SKIP tests/slurm/run.sh: $*"; exit 77; }
fail() { echo "FAIL tests/slurm/run.sh: $*"; exit 1; }

[ -x "$KEDIT" ] || fail "$KEDIT not built (run make first)"
for f in models/stories260K/stories260K.bin models/stories260K/tok512.bin zsre/zsre_mend_train_1k.json \
         text/wikitext-2-raw-test.txt; do
    [ -f "$DATA/$f" ] || skip "$DATA/$f absent (the shared data)"
done
DATA=$(cd "$DATA" && pwd)
[ "$(id -u)" = 0 ] || skip "slurmd must run as root"

T=$(mktemp -d "${TMPDIR:-/tmp}/kedit_slurm_XXXXXX") || fail "mktemp"
export SLURM_CONF=$T/slurm.conf

stop_all() {
    [ -f "$T/slurm.conf" ] && [ -n "${job:-}" ] && scancel "$job" 2>/dev/null
    for d in slurmd slurmctld munged; do
        pid=$(cat "$T/$d.pid" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap stop_all EXIT

# ---- Slurm and munge ----
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
   ! command -v munged >/dev/null; then
    echo "installing slurm-wlm and munge (apt-get, log in $T/apt.log)"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge; } >"$T/apt.log" 2>&1 ||
        skip "apt-get could not install slurm-wlm and munge: $(tail -n 1 "$T/apt.log")"
fi

mkdir -m 700 "$T/munge" "$T/state" "$T/spool" || fail "mkdir"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none && chmod 400 "$T/munge/munge.key"
munged --force --key-file="$T/munge/munge.key" --socket="$T/munge/socket" --pid-file="$T/munged.pid" \
    --log-file="$T/munge/munged.log" --seed-file="$T/munge/seed" 2>"$T/munge/start.log" ||
    skip "munged would not start: $(tail -n 2 "$T/munge/start.log" "$T/munge/munged.log" 2>/dev/null | tr '\n' ' ')"
munge -n -S "$T/munge/socket" | unmunge -S "$T/munge/socket" >/dev/null 2>&1 || skip "munge does not work here"

host=$(hostname -s)
port=$((20000 + RANDOM % 20000))
cat >"$SLURM_CONF" <<EOF
ClusterName=kedit-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/socket
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=60
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -c >"$T/slurmctld.out" 2>&1 || skip "slurmctld would not start: $(tail -n 3 "$T/slurmctld.log" 2>/dev/null | tr '\n' ' ')"
slurmd -N "$host" >"$T/slurmd.out" 2>&1 || skip "slurmd would not start: $(tail -n 3 "$T/slurmd.log" 2>/dev/null | tr '\n' ' ')"
for _ in $(seq 60); do
    [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break
    sleep 1
done
[ "$(sinfo -h -o %t 2>/dev/null)" = idle ] ||
    skip "the node did not become idle: $(sinfo -h 2>&1 | head -n 1); $(tail -n 3 "$T/slurmd.log" 2>/dev/null | tr '\n' ' ')"
echo "slurm $(sinfo -V | cut -d' ' -f2): slurmctld and slurmd on $host, port $port"

# ---- the sweep: uninterrupted without Slurm, then through Slurm with one task signalled, one requeued ----
cat >"$T/grid.json" <<EOF
{"base": {"model": "$DATA/models/stories260K/stories260K.bin", "tokenizer": "$DATA/models/stories260K/tok512.bin",
          "hparams": "configs/{method}_stories260K.json",
          "dataset": {"path": "$DATA/zsre/zsre_mend_train_1k.json", "n_edits": 8},
          "schedule": {"checkpoint_every": 4, "state_every": 3},
          "stats": {"corpus": "$DATA/text/wikitext-2-raw-test.txt", "n_tokens": 20000, "cache": "$T/stats"}},
 "grid": {"\$method": ["memit", "d4s"]}}
EOF
for s in plain slurm; do "$KEDIT" sweep --grid "$T/grid.json" --out "$T/$s" >/dev/null || fail "kedit sweep"; done
t0=$SECONDS
for i in 0 1; do
    "$KEDIT" run --quiet --task $i --grid "$T/plain/grid.json" >"$T/plain/logs/task-$i.log" 2>&1 ||
        fail "the uninterrupted task $i: $(tail -n 3 "$T/plain/logs/task-$i.log")"
done
echo "uninterrupted sweep: $((SECONDS - t0)) s"

t0=$SECONDS
job=$(sbatch --parsable "$T/slurm/sweep.sbatch") || fail "sbatch refused the script"
log() { echo "$T/slurm/logs/task-000$1.log"; }
# waits (up to $2 s) for the text $3 in task $1's log
wait_log() {
    for _ in $(seq $(($2 * 5))); do grep -q "$3" "$(log "$1")" 2>/dev/null && return 0; sleep 0.2; done
    fail "task $1: no '$3' in its log after $2 s: $(tail -n 5 "$(log "$1")" 2>/dev/null); $(squeue 2>&1 | tail -n 2)"
}
wait_log 0 120 "^edit 1/"
scancel --batch --signal=USR1 "${job}_0" || fail "scancel --signal=USR1 ${job}_0"
wait_log 1 120 "^edit 1/"
scontrol requeue "${job}_1" || fail "scontrol requeue ${job}_1"
sleep 2
echo "requeued: $(scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z]* \|EligibleTime=[^ ]*' | tr '\n' ' ')"
for _ in $(seq 300); do [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break; sleep 1; done
[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] || fail "the array did not finish in 300 s: $(squeue -j "$job" 2>&1)"
echo "sweep through Slurm, one task signalled and one requeued: $((SECONDS - t0)) s"

# ---- what happened to each task, and the tables ----
for i in 0 1; do
    l=$(log $i)
    grep -q "stopped after [0-9]* edits, the state saved" "$l" || fail "task $i was not stopped by a signal: $(cat "$l")"
    grep -q "its results file .* exists: continuing it" "$l" || fail "task $i did not continue its file: $(cat "$l")"
    grep -q "results: .*task-000$i.h5 (complete)" "$l" || fail "task $i did not complete: $(tail -n 5 "$l")"
    restarts=$(scontrol show job "${job}_$i" 2>/dev/null | grep -o 'Restarts=[0-9]*')
    [ "$restarts" = Restarts=1 ] || fail "task $i: $restarts, expected Restarts=1"
    echo "task $i: $(grep -m1 -o "SIG[A-Z0-9]*: stopped after [0-9]* edits" "$l"), requeued, $(grep -m1 -o "resuming .*" "$l" || echo "restarted from its first edit")"
done
grep -q "requeueing job" "$(log 0)" || fail "task 0's script did not requeue itself after USR1: $(cat "$(log 0)")"
grep -q "requeueing job" "$(log 1)" && fail "task 1's script requeued itself after SIGTERM (Slurm does that)"
"$KEDIT" table "$T"/plain/task-*.h5 >"$T/plain.table" || fail "kedit table of the uninterrupted sweep"
"$KEDIT" table "$T"/slurm/task-*.h5 >"$T/slurm.table" || fail "kedit table of the Slurm sweep"
cat "$T/slurm.table"
diff "$T/plain.table" "$T/slurm.table" || fail "the tables differ"
echo "PASS tests/slurm/run.sh: the requeued sweep's table equals the uninterrupted sweep's"
