#!/usr/bin/env bash
# Builds what tools/gpu_report.sh runs and stages it for the GPU machine with
# ../shared/gpu/stage.sh: the bench (for --check and the timings), the two MNIST examples
# and the GPU-vs-CPU test binary (as gpu-run/test-gpu_vs_cpu), stripped, beside the
# report script. Run from the checkout; then copy .gl/ and gpu-run/ over (see
# tools/gpu_report.sh).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
cargo build --release --examples
# The bench and the test share a name in target/release/deps: take each from cargo's word.
executable() { sed -n "s/.*Executable $1.*(\(target[^)]*\)).*/\1/p" | tail -1; }
bench=$(cargo bench --bench gpu_vs_cpu --no-run 2>&1 | executable benches)
tests=$(cargo test --release --test gpu_vs_cpu --no-run 2>&1 | executable tests)
stage=$(mktemp -d)
cp "$bench" "$stage/gpu_vs_cpu"
cp "$tests" "$stage/test-gpu_vs_cpu"
cp target/release/examples/mnist_mlp target/release/examples/mnist_cnn tools/gpu_report.sh "$stage/"
"$root/../shared/gpu/stage.sh" "$stage"/*
rm -rf "$stage"
