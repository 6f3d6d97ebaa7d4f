#!/usr/bin/env bash
# hpsearch on a GPU machine, unattended, in about 6 to 8 minutes on one H200 (see benchmarks/gpu.py):
# CUDA in trials forked from the fork server, the quickstart on the GPU against the CPU, finished trials
# per hour with 1, 2 and 4 trials per GPU, and a decoding-only study whose trials take the fork server's
# model onto their GPUs. One summary at the end; benchmarks/results/gpu.json.
#
#   pip install -e ".[examples]"     # with a CUDA build of torch
#   bash benchmarks/gpu.sh           # exits 2 with one line where there is no GPU
#   bash benchmarks/gpu.sh --smoke   # the same steps, tiny, on a CPU machine: checks the script only
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ " $* " != *" --smoke "* ]] && ! nvidia-smi -L >/dev/null 2>&1; then
    echo "benchmarks/gpu.sh: no GPU here (nvidia-smi lists none); run it on a machine with a CUDA GPU" >&2
    exit 2
fi
# stop short of 10 minutes: the longest one command may run on the machines this project borrows
exec timeout 580 "${PYTHON:-python}" benchmarks/gpu.py "$@"
