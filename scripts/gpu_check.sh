#!/usr/bin/env bash
# The GPU check of this checkout, in about 4 minutes on one GPU: quality and speed of
# `w2v train --device cuda` against the CPU defaults there, the CUDA tests, and the suite.
# Put the PTB archive and MEN in the git-ignored .device/ (mkdir -p .device && cp
# ../shared/data/ptb.zip ../shared/data/men3k.tsv .device/), then on the GPU machine, from the
# repository root: bash scripts/gpu_check.sh. Results: $OUT/gpu-check.log.
set -uo pipefail
D=$PWD/.device
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
W=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python -m http.server --bind 127.0.0.1 8799 --directory "$D" >/dev/null 2>&1 & SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
sleep 1
W2V_PTB_URL=http://127.0.0.1:8799/ptb.zip python -m w2v prepare --data-dir "$W/data" --quiet

echo "== quality: PTB, 20 epochs, seeds 1-3 (an empty setting: the GPU defaults)"
timeout 200 python scripts/batch_sweep.py --data "$W/data/ptb" --device cuda --jobs 7 \
  --men "$D/men3k.tsv" --out "$W/sweep" --setting "" --setting "model=cbow" \
  --setting "batch_size=2048,step_limit=0,cuda_graphs=false" \
  --setting "model=cbow,batch_size=4096,step_limit=0,cuda_graphs=false"

echo "== speed: PTB x50, 1 epoch, one run at a time"
python - "$W" "$D/ptb.zip" <<'PY'
import sys, zipfile
text = zipfile.ZipFile(sys.argv[2]).read("ptb/ptb.train.txt")
with open(f"{sys.argv[1]}/ptb50.txt", "wb") as f:
    f.write(text * 50)
PY
python -m w2v prepare "$W/ptb50.txt" --data-dir "$W/data" --quiet >/dev/null
timeout 150 python scripts/batch_sweep.py --data "$W/data/ptb50" --device cuda --jobs 1 --seeds 1 \
  --men "$D/men3k.tsv" --out "$W/speed" --setting "epochs=1" --setting "epochs=1,model=cbow" \
  --setting "epochs=1,batch_size=2048,step_limit=0,cuda_graphs=false"

echo "== the command line"
python -m w2v train --data "$W/data/ptb" --device cuda --run-dir "$W/runs/cli" --quiet | tail -1

echo "== tests: on the GPU, then the suite (GPUs hidden; the tests needing gensim or hypothesis
need the dev extras)"
W2V_TEST_GPU=1 timeout 120 python -m pytest -q -p no:cacheprovider tests/test_cuda.py | tail -3
timeout 240 python -m pytest -q -p no:cacheprovider $(grep -L "hypothesis\|gensim" tests/test_*.py) | tail -3
