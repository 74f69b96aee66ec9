#!/usr/bin/env bash
# Runs wgnn's tests on this machine's adapter under each of the limit and feature legs
# of issue 18, so that a kernel needing more than a WebGPU adapter must offer, or an
# optional feature without its fallback, fails here rather than on a user's GPU.
#
#   tools/adapter_legs.sh [LEG ...]
#
# Legs (default: all but gl):
#   adapter         the adapter's own limits and every wanted feature it has
#   default-limits  WebGPU's default limits (WGNN_LIMITS=default): 8 storage buffers per
#                   stage, 16 KiB workgroup storage, 256 invocations, 128 MiB bindings,
#                   no immediates
#   no-immediates   per-dispatch parameters through the uniform arena
#   no-subgroup     without SUBGROUP
#   no-f16          without SHADER_F16
#   gl              wgpu's OpenGL ES backend (WGPU_BACKEND=gl, built with --features
#                   gles; needs Mesa's EGL: libegl1 libegl-mesa0 libgl1-mesa-dri)
#
# Each leg runs the library's unit tests and every integration test (not the doc tests,
# which never open a device) with WGNN_REQUIRE_GPU=1, and prints a line per leg. The dispatch budgets in
# tests/step_costs.rs are counted at the adapter's own limits in every leg.
set -euo pipefail
cd "$(dirname "$0")/.."

legs=("$@")
[ ${#legs[@]} -gt 0 ] || legs=(adapter default-limits no-immediates no-subgroup no-f16)
export WGNN_REQUIRE_GPU=1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

failed=()
for leg in "${legs[@]}"; do
    env=()
    features=()
    case "$leg" in
        adapter) ;;
        default-limits) env=(WGNN_LIMITS=default) ;;
        no-immediates) env=(WGNN_WITHOUT=immediates) ;;
        no-subgroup) env=(WGNN_WITHOUT=subgroup) ;;
        no-f16) env=(WGNN_WITHOUT=f16) ;;
        # Its own build folder, so that the other legs keep theirs.
        gl) env=(WGPU_BACKEND=gl "CARGO_TARGET_DIR=${GLES_TARGET_DIR:-target/gles}") features=(--features gles) ;;
        *)
            echo "unknown leg $leg (adapter, default-limits, no-immediates, no-subgroup, no-f16, gl)" >&2
            exit 2
            ;;
    esac
    echo "== leg $leg: ${env[*]:-(no settings)} cargo test ${features[*]:-} --lib --tests"
    start=$(date +%s)
    # tests/examples_exit.rs runs the examples' binaries: build them first.
    if env "${env[@]}" cargo build "${features[@]}" --examples >"target/leg-$leg.log" 2>&1 &&
        env "${env[@]}" cargo test "${features[@]}" --lib --tests --no-fail-fast \
            >>"target/leg-$leg.log" 2>&1; then
        status=passed
    else
        status=FAILED
        failed+=("$leg")
        grep -E "^test .* FAILED|panicked at" "target/leg-$leg.log" | head -n 20 || true
    fi
    tests=$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' \
        "target/leg-$leg.log")
    echo "leg $leg: $status ($tests, $(($(date +%s) - start)) s; log in target/leg-$leg.log)"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "legs failed: ${failed[*]}"
    exit 1
fi
