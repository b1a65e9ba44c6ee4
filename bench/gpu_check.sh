#!/usr/bin/env bash
# GPU speed check of the reasoner's step, eager against compiled (torch.compile), in under 8
# minutes on one GPU. Run from the repository root on a machine with CUDA:
#
#     bash bench/gpu_check.sh   # 5 text files in runs/gpu_check/ (or $OUT when set); runs in
#                               # runs/gpu_check_runs/
#
# 1. bench.reasoner on the shipped maze planner (conv-only) and the same with attention, batch
#    1, 64 and 256, eager and compiled (bf16 autocast; compile time reported apart);
# 2. bench.reasoner on the shipped sudoku9 planner (attention, 9x9);
# 3. pretraining throughput, eager against --compile: 40 steps of maze.yaml on 15x15 mazes
#    (one grid size, so one set of graphs), mazes per second from the TensorBoard step times
#    with the seconds spent compiling taken out.
# Each part has its own time limit (470 s together), so one that hangs does not take the others
# with it; summary.txt lists each part's exit status and the pretraining throughputs.
set -u
OUT_DIR="${OUT:-runs/gpu_check}"
RUN_DIR="runs/gpu_check_runs"  # the pretraining run folders (checkpoints), kept out of OUT_DIR
mkdir -p "$OUT_DIR" "$RUN_DIR"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT_DIR/summary.txt"; }

log "start; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
torch.cuda.is_available() and torch.cuda.get_device_name(0))" 2>&1 | tee -a "$OUT_DIR/summary.txt"

run() {  # run NAME SECONDS COMMAND...: one part, its output in NAME.txt
    local name=$1 limit=$2
    shift 2
    log "$name: $*"
    timeout "$limit" "$@" >"$OUT_DIR/$name.txt" 2>&1
    log "$name: exit $? after $SECONDS s in all"
}

run bench_maze 150 python -m bench.reasoner --device cuda --batches 1,64,256 --compile \
    --no-memory --rounds 5 --seconds 0.2
run bench_sudoku9 90 python -m bench.reasoner --device cuda --batches 1,64,256 --compile \
    --no-memory --no-second-architecture --checkpoint fpr_agents/checkpoints/sudoku9.safetensors \
    --side 9 --rounds 5 --seconds 0.2

PRETRAIN=(python -m train.pretrain --config maze.yaml --device cuda --total-steps 40
    --min-size 15 --max-size 15 --eval-batches 1 --eval-sizes 15 --max-iters 64
    --eval-every 1000 --checkpoint-every 1000 --no-progress)
rm -rf "$RUN_DIR/pretrain_eager" "$RUN_DIR/pretrain_compiled"
run pretrain_eager 60 "${PRETRAIN[@]}" --out "$RUN_DIR/pretrain_eager"
run pretrain_compiled 170 "${PRETRAIN[@]}" --compile --out "$RUN_DIR/pretrain_compiled"

python - "$RUN_DIR" <<'EOF' 2>&1 | tee -a "$OUT_DIR/summary.txt"
"""Mazes per second between the first and the last logged step, compile seconds taken out."""
import json
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

out = Path(sys.argv[1])
for name in ("pretrain_eager", "pretrain_compiled"):
    folder = out / name
    if not folder.exists():
        print(f"{name}: no run folder")
        continue
    events = EventAccumulator(str(folder))
    events.Reload()
    loss = events.Scalars("pretrain/loss")
    compiling = 0.0
    if "pretrain/compile_seconds" in events.Tags()["scalars"]:
        seconds = events.Scalars("pretrain/compile_seconds")
        compiling = seconds[-1].value - seconds[0].value
    steps = loss[-1].step - loss[0].step
    wall = loss[-1].wall_time - loss[0].wall_time
    args = json.loads((folder / "checkpoint.json").read_text())["args"]
    mazes = steps * args["batch_size"] / args["segments"]  # a batch serves `segments` steps
    print(f"{name}: steps {loss[0].step}..{loss[-1].step}: {wall:.1f} s, of it {compiling:.1f} s"
          f" compiling; {mazes / max(wall - compiling, 1e-9):.1f} mazes/s without compiling")
EOF
log "done in $SECONDS s"
