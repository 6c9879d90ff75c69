#!/usr/bin/env bash
# One mlplab-train run as a plain SLURM batch job that survives a pre-emption and its time limit:
# SLURM runs it again (same job id) and it continues from its last.ckpt (ckpt_path=last), to the
# numbers of a run that nothing stopped. The arguments are mlplab-train's overrides:
#
#   sbatch scripts/sbatch_train.sh experiment=d2l_mlp_scratch trainer.max_epochs=30
#   sbatch --partition=gpu --gres=gpu:1 --time=4:00:00 scripts/sbatch_train.sh trainer=gpu model=concise
#
# Submit it from the folder mlplab-train should run in, its environment active (sbatch passes it
# on). The job's runs go under logs/slurm/<job id> (paths.log_dir; MLPLAB_SLURM_LOGS=<dir> for
# <dir>/<job id>), where ckpt_path=last finds this job's own run and no other's. Its output:
# slurm-<job id>.out, each run appended.
#   pre-empted, scontrol requeue: SLURM sends SIGTERM to mlplab-train, which finishes the epoch and
#     writes last.ckpt (mlplab.runtime.interrupt); the epoch must end within the cluster's KillWait
#     (scontrol show config | grep KillWait), else it resumes from the epoch before. --requeue: the
#     job is queued again.
#   time limit: SLURM sends USR1 to this script 90 s before it (B: this shell only); the script
#     stops mlplab-train the same way, waits for its checkpoint, then requeues the job itself.
# One process on one device, started without srun (--ntasks=1 tells Lightning it is the job's one
# task): this shell signals mlplab-train itself, and an srun sent SIGTERM ends its step, run and all.
# DDP over several GPUs is srun's job (Lightning's SLURM docs), not this script's.
#SBATCH --job-name=mlplab-train
#SBATCH --ntasks=1
#SBATCH --requeue
#SBATCH --signal=B:USR1@90
#SBATCH --open-mode=append
#SBATCH --time=01:00:00
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
set -euo pipefail
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"  # torch's threads: the CPUs given

logs="${MLPLAB_SLURM_LOGS:-logs/slurm}/${SLURM_JOB_ID:?submit this script with sbatch}"
resume=()
if compgen -G "$logs/runs/*/checkpoints/last.ckpt" >/dev/null; then
  resume=(ckpt_path=last)  # run again after a stop: continue this job's run
fi
echo "sbatch_train: job $SLURM_JOB_ID, start $(( ${SLURM_RESTART_COUNT:-0} + 1 )): mlplab-train $*" \
  "paths.log_dir=$logs${resume[*]:+ ${resume[*]}}"

train="" requeue=false
stop_then_requeue() {
  echo "sbatch_train: USR1, the time limit is near: mlplab-train stops after this epoch, then the job is requeued"
  requeue=true
  if [ -n "$train" ]; then kill -TERM "$train" 2>/dev/null || true; fi
}
trap stop_then_requeue USR1
# SLURM signals mlplab-train itself: this shell only waits for its checkpoint
trap 'if [ -n "$train" ] && kill -0 "$train" 2>/dev/null; then
        echo "sbatch_train: SIGTERM (pre-empted or requeued): mlplab-train finishes this epoch"; fi' TERM

mlplab-train "$@" "paths.log_dir=$logs" "${resume[@]}" &
train=$!
while kill -0 "$train" 2>/dev/null; do wait "$train" || true; done  # a trap ends `wait` early
status=0
wait "$train" || status=$?
if "$requeue" && [ "$status" -eq 130 ]; then  # stopped (130); a run that reached its end has finished
  scontrol requeue "$SLURM_JOB_ID"
  # SLURM now ends this run (SIGTERM, at once) and queues the job again: wait for it rather than
  # exit first, when the run's own exit status could still end the job as failed
  sleep 60 & wait $! 2>/dev/null || true
fi
exit "$status"
