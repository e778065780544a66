#!/usr/bin/env bash
# Every check that needs a GPU, in one call (run on the GPU machine from the repository root):
#   1. the whole test suite, CuPy cases included (they skip elsewhere);
#   2. the whole suite again with MINIGAN_BACKEND=cupy, so every default-backend path runs on the GPU;
#   3. the benchmark suite (minigan bench): the canonical DCGAN step and its layers on CuPy at batch 64, 256 and
#      1024 and on NumPy at 64 and 256, each against its torch twin (CUDA / CPU), with tables, CSVs and plots,
#      and the profile of the step (each layer's time inside it; on the GPU synchronised after every layer call).
# Logs, the benchmark tables (md), their JSON and two plots go to ${OUT:-gpu_results}/ (9 files).
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
REPORTS="${TMPDIR:-/tmp}/minigan_bench"  # full reports (md, csv, json, png) here; the main ones are copied to $OUT
python -m minigan.lab.bench --backends cupy --batch 64 256 1024 --out "$REPORTS/cupy" > /dev/null || status=1
python -m minigan.lab.bench --backends numpy --batch 64 256 --steps 10 --out "$REPORTS/numpy" > /dev/null || status=1
for b in cupy numpy; do
  cp "$REPORTS/$b/bench.md" "$OUT/bench_$b.md" && cp "$REPORTS/$b/bench.json" "$OUT/bench_$b.json" && cat "$OUT/bench_$b.md"
done
cp "$REPORTS/cupy/bench.png" "$OUT/bench_cupy.png"
cp "$REPORTS/cupy/bench_profile.png" "$OUT/bench_profile_cupy.png"
exit $status
