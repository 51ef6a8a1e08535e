#!/bin/bash
# Train both damage models at once on one CUDA GPU, each for MINUTES of training, with
# background processes generating the synthetic damage (pack the pictures first with
# scripts/pack_pictures.py). Usage: scripts/train_damage_gpu.sh DATA RUNS MINUTES
# Environment: TASKS (default "mask repair"), WORKERS per task (6), EXTRA arguments for
# engine.training.damage (e.g. EXTRA="--width 24 --depth 5 --patch 256 --crops 4").
# The damage is drawn over whole pictures, about 13 pictures a second per CPU core: a
# GPU eats crops faster, so give one task most cores (TASKS=mask WORKERS=14) and cut
# more crops from each picture (--crops) rather than retrain on a stale pool.
# Exports into RUNS/export; logs in RUNS/<task>.log; checkpoints in RUNS/<task>/.
# The lent GPU machines' Python lacks platformdirs: copy it from .venv into a carried,
# git-ignored folder and put that on PYTHONPATH (e.g. .whl/pd).
set -u
DATA=${1:-gpu_data} RUNS=${2:-runs/gpu} MINUTES=${3:-7} PYTHON=${PYTHON:-python3}
mkdir -p "$RUNS"
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
"$PYTHON" -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
for task in ${TASKS:-mask repair}; do
    "$PYTHON" -m engine.training.damage --task $task --datasets "$DATA" --run "$RUNS/$task" \
        --export "$RUNS/export" --minutes "$MINUTES" --steps 1000000 --batch 32 --pool 8000 \
        --workers "${WORKERS:-6}" --threads 2 --eval-every 1000 ${EXTRA:-} > "$RUNS/$task.log" 2>&1 &
done
wait
grep -h "exported\|Error" "$RUNS"/*.log
