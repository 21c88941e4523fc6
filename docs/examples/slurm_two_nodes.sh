#!/bin/bash
# PPO on two SLURM nodes, one process per node, every GPU of both nodes in one `data` mesh.
#
#     sbatch docs/examples/slurm_two_nodes.sh
#
# JAX reads the coordinator, the process count and each process's index from SLURM's
# variables, so --distributed needs no overrides here. Process 0 writes the run directory,
# which must be on a file system both nodes see ($SCRATCH here). Continue a stopped run by
# submitting the same script with RESUME=1 (any node or device count can continue it).
#SBATCH --job-name=rlssm-ppo
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00

set -euo pipefail
cd "${SLURM_SUBMIT_DIR}"
RUN_DIR="${SCRATCH}/rlssm-runs/popgym-paper-${SLURM_JOB_NAME}"

if [[ "${RESUME:-0}" == 1 ]]; then
    srun .venv/bin/python -m experiments.ppo --resume "${RUN_DIR}" --distributed --devices 0
else
    srun .venv/bin/python -m experiments.ppo popgym-paper --distributed --devices 0 \
        --run-dir "${RUN_DIR}"
fi
