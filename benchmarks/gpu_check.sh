#!/usr/bin/env bash
# One call on a CUDA machine (about 3 minutes): the kernel tests that run on CUDA (Triton compiled,
# CUDA-graph replay, moving a model to CUDA) against each rule's torch reference, the GPU step
# benchmark, then the host microseconds per step at 10M parameters in 100 tensors (the graph path's
# front end against its bare stepper and torch.optim). Everything lands in $OUT (default ./gpu_out).
#   PYTHONPATH=src bash benchmarks/gpu_check.sh
# DEVICE=cpu SCALE=0.002 runs the same logic on a CPU machine (to check the script itself).
# Exits non-zero if the tests or either benchmark failed or ran out of time.
set -u -o pipefail
OUT=${OUT:-gpu_out}
DEVICE=${DEVICE:-cuda}
SCALE=${SCALE:-1}
PY=${PY:-python3}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2
cd "$(dirname "$0")/.." || exit 2   # the repository root: tests/, benchmarks/ and src/ are relative to it
export PYTHONPATH=src PYTHONUNBUFFERED=1
failed=0
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv 2>/dev/null
  "$PY" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee "$OUT/machine.txt"

echo "== kernel and bench tests (tests/kernels and tests/bench, the CUDA/Triton ones) =="
SELECT="cuda or triton"
[ "$DEVICE" = cuda ] || SELECT="triton"
timeout 150 "$PY" -m pytest -q -n 12 -p no:cacheprovider tests/kernels tests/bench -k "$SELECT" 2>&1 | tee "$OUT/tests.txt" | tail -25
code=${PIPESTATUS[0]}
echo "tests exit code $code"
[ "$code" = 0 ] || failed=1

echo "== step benchmark =="
SWEEP=--sweep
[ "$DEVICE" = cuda ] || SWEEP=
timeout 200 "$PY" benchmarks/step_speed.py --device "$DEVICE" $SWEEP --steps 10 --scale "$SCALE" \
  --json "$OUT/step_speed_${DEVICE}.json" --markdown "$OUT/step_speed_${DEVICE}.md" > "$OUT/bench.log" 2>&1
code=$?
echo "benchmark exit code $code"
[ "$code" = 0 ] || failed=1
tail -5 "$OUT/bench.log"
cat "$OUT/step_speed_${DEVICE}.md" 2>/dev/null

echo "== host microseconds per step, 100 tensors (10M parameters at SCALE=1) =="
NUMEL=$(awk -v s="$SCALE" 'BEGIN { n = int(100000 * s); print (n < 1 ? 1 : n) }')
timeout 90 "$PY" benchmarks/step_host_overhead.py --device "$DEVICE" --tensors 100 --numel "$NUMEL" \
  --rounds 30 --batch 10 --json "$OUT/step_host_${DEVICE}.json" > "$OUT/host.log" 2>&1
code=$?
echo "host benchmark exit code $code"
[ "$code" = 0 ] || failed=1
cat "$OUT/host.log"
exit $failed
