#!/usr/bin/env bash
# PacGAN's Table 1 rows at the paper's 400k steps, 10 seeds, on a lent GPU: one 2D data set per call.
#
#   run(command="bash benchmarks/device.sh table1 grid25", carry=[".whl"], timeout_s=580)   # then ring8
#
# Arms (the issue's): baseline (PacGAN's GAN row), PacGAN2 and PacGAN4 with PacGAN's own batches (m
# batches of 100 a step, so D judges 100 packs: PACGAN2 and PACGAN4 in paper_tables.py),
# preset:recommended and preset:modern, in PacGAN's coordinates (data.coords=raw, as paper_tables.py
# does), with verdicts at 20k and 100k steps as well as at 400k. Runs that can share a stack train as
# one (`--stack auto` on CUDA); the rest train side by side, one per worker.
#
# One call trains for TABLE1_SECONDS (default 470) and then stops its runs at a step boundary: every
# finished run keeps its result, an unfinished one is lost with the machine (its checkpoint is too
# big to bring back). What comes back, under $OUT/table1-400k/DATA: ablation.json, results.csv,
# stats.json, report.md, the printed table (paper_tables.md) and each finished run's result.json
# under runs/. Commit that folder as docs/results/table1-400k/DATA (git ignores its runs/: the
# ablation gets each finished run's result.json back from results.csv): the next call starts from it
# and trains only the runs it lacks, so the table fills over as many lent sessions as it needs. Put the
# table beside PacGAN's in docs/results.md, naming the device and the date.
#
# Measured on an H200 (2026-12-04, docs/performance.md "On a GPU"): the stacked step is host-bound
# (7,550 run-steps/s at best), so 400k steps of 50 runs take at least 44 minutes and do not fit one
# lease until the step is captured as a CUDA graph; at 20k steps no run finished in 400 s either.
#
# TABLE1_GRAPH=auto replays each capturable run's step as one CUDA graph (ganhacks ablate --cuda-graph:
# the baseline and PacGAN rows; recommended's noise tricks and modern's EMA train without one). It is
# off by default until benchmarks/gpu_checks.py's check 4 (which device.sh runs first) has passed on a
# GPU; it changes how the runs train, not the experiment, so calls with and without it fill one table.
#
# For a smoke run on any machine: TABLE1_STEPS=40 TABLE1_EVAL_AT=20 TABLE1_DEVICE=cpu OUT=/tmp/t1 \
#   bash benchmarks/device.sh table1 ring8
set -uo pipefail
data=${1:?name the 2D data set: bash benchmarks/device.sh table1 ring8 or grid25}
case "$data" in ring8 | grid25) ;; *) echo "table1 runs ring8 or grid25, not '$data'" >&2; exit 2 ;; esac
export PYTHONPATH=${PYTHONPATH:-src} PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
steps=${TABLE1_STEPS:-400000}
eval_at=${TABLE1_EVAL_AT:-20000,100000}
device=${TABLE1_DEVICE:-cuda}
seconds=${TABLE1_SECONDS:-470}
workers=${TABLE1_WORKERS:-6}
graph=${TABLE1_GRAPH:-false}
tricks=tricks.pack.m=2+train.batch_size=200,tricks.pack.m=4+train.batch_size=400,preset:recommended,preset:modern
saved=${TABLE1_FROM:-docs/results/table1-400k/$data}  # the folder earlier calls brought back
work=/tmp/table1-work
back=$OUT/table1-400k/$data
mkdir -p "$work/$data" "$back"
if [ -f "$saved/ablation.json" ]; then
    # The runs earlier calls finished (results.csv's rows) are done and are not trained again.
    cp -r "$saved/." "$work/$data/"
    echo "starting from $saved: $(($(wc -l <"$saved/results.csv" 2>/dev/null || echo 1) - 1)) finished runs"
fi
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU visible"
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    echo "== paper_tables.py, $data, $steps steps, for at most $seconds s, train.cuda_graph=$graph"
    # SIGTERM at the limit: paper_tables.py stops its workers at a step boundary (exit 143); -k
    # kills them if saving takes more than 30 s.
    timeout -k 30 -s TERM "$seconds" python3 benchmarks/paper_tables.py --data "$data" --tricks "$tricks" \
        --seeds 10 --steps "$steps" --eval-at "$eval_at" --device "$device" --workers "$workers" \
        --cuda-graph "$graph" --out "$work"
    echo "== the table from the finished runs"
    python3 benchmarks/paper_tables.py --data "$data" --tricks "$tricks" --no-run --out "$work"
    python3 -m ganhacks report "$work/$data" >/dev/null
} 2>&1 | tee "$back/device.txt"
cd "$work/$data" || exit 1
cp ablation.json results.csv stats.json report.md "$back/" 2>/dev/null
cp "$work/paper_tables.md" "$back/" 2>/dev/null
find runs -name result.json 2>/dev/null | while read -r f; do
    mkdir -p "$back/$(dirname "$f")" && cp "$f" "$back/$f"
done
echo "brought back: $(find "$back/runs" -name result.json 2>/dev/null | wc -l) finished runs of 50, in $back"
