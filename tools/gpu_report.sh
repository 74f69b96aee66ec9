#!/usr/bin/env bash
# The one-command GPU report: on a machine with a hardware GPU, runs what tells how wgnn
# does there, within a total time limit, and writes every output into one folder:
#   1. check.txt       the op self-check (`gpu_vs_cpu --check`: every op against the CPU)
#   2. tests-*.txt     the staged test binaries, with WGNN_REQUIRE_GPU=1
#   3. mlp.txt         WGNN_PROFILE=1 mnist_mlp --epochs 10 (2 with --short)
#   4. cnn.txt         WGNN_PROFILE=1 mnist_cnn --epochs 12 (1 with --short)
#   5. tune.txt        the autotuning sweep (`gpu_vs_cpu --tune`): every product variant
#                      timed against the tuner's choice
#   6. bench.txt/.json the full bench (`gpu_vs_cpu --bench --json`), with what time is left
# and summary.txt (each step's exit status and seconds). The tuning choices go to
# cache/ in the folder (WGNN_CACHE_DIR): the examples run first, so they show the cost of
# tuning on a fresh cache. A step that runs out of time is
# stopped and reported as such; the later ones still run if time is left.
#
# Stage it with tools/gpu_stage.sh (which builds and strips the binaries it needs), copy
# .gl/ and gpu-run/ to the GPU machine's checkout, then there:
#   bash gpu-run/run.sh bash gpu-run/gpu_report.sh [--short] [--limit SECONDS] [FOLDER]
# FOLDER defaults to $OUT when set (the device tool's output folder), else gpu-report/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
short=0
limit=540
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1 ;;
    --limit) limit="$2"; shift ;;
    *) out="$1" ;;
  esac
  shift
done
out="${out:-${OUT:-gpu-report}}"
mkdir -p "$out"
start=$(date +%s)
: >"$out/summary.txt"

# step NAME FILE COMMAND...: runs COMMAND with what is left of the limit, output to FILE.
step() {
  local name="$1" file="$2"
  shift 2
  local left=$((limit - ($(date +%s) - start)))
  if [ "$left" -le 5 ]; then
    echo "$name: skipped (time limit)" | tee -a "$out/summary.txt"
    return
  fi
  local t0=$(date +%s)
  timeout "$left" "$@" >"$out/$file" 2>&1
  local rc=$?
  local status="exit $rc"
  [ "$rc" -eq 124 ] && status="stopped at the time limit"
  echo "$name: $status, $(($(date +%s) - t0)) s" | tee -a "$out/summary.txt"
}

bench="$here/gpu_vs_cpu"
export WGNN_REQUIRE_GPU=1
export WGNN_CACHE_DIR="$out/cache"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
step "op self-check" check.txt "$bench" --check
for t in "$here"/test-*; do
  [ -x "$t" ] || continue
  # Their own tuning file, so that the examples meet a fresh one.
  step "tests $(basename "$t")" "tests-$(basename "$t").txt" \
    env WGNN_CACHE_DIR="$out/cache-tests" "$t" --test-threads 1
done
if [ "$short" -eq 1 ]; then mlp_epochs=2; cnn_epochs=1; else mlp_epochs=10; cnn_epochs=12; fi
step "mnist_mlp" mlp.txt env WGNN_PROFILE=1 "$here/mnist_mlp" --epochs "$mlp_epochs"
step "mnist_cnn" cnn.txt env WGNN_PROFILE=1 "$here/mnist_cnn" --epochs "$cnn_epochs"
step "autotune sweep" tune.txt "$bench" --tune
step "bench" bench.txt "$bench" --bench --json "$out/bench.json"
echo "total: $(($(date +%s) - start)) s of $limit" | tee -a "$out/summary.txt"
