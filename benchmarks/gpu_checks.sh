#!/usr/bin/env bash
# Every check that needs a GPU, in one call (run on the GPU machine from the repository root):
#   1. the whole test suite, CuPy cases included (they skip elsewhere);
#   2. the whole suite again with MINIGAN_BACKEND=cupy, so every default-backend path runs on the GPU;
#   3. the forward+backward baseline of the canonical DCGAN on numpy and cupy, each against its torch twin.
# Logs and JSON go to ${OUT:-gpu_results}/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_results}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MINIGAN_QUICK=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python -c "import numpy, cupy, torch; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"
status=0
python -m pytest -q -p no:cacheprovider -rs 2>&1 | tee "$OUT/pytest_both_backends.log" | tail -n 15 || status=1
MINIGAN_BACKEND=cupy python -m pytest -q -p no:cacheprovider 2>&1 | tee "$OUT/pytest_cupy_default.log" | tail -n 15 || status=1
for b in numpy cupy; do
  for n in 64 256; do
    python benchmarks/fwd_bwd_baseline.py --backend "$b" --batch "$n" --json | tee -a "$OUT/fwd_bwd_baseline.jsonl"
  done
done
exit $status
