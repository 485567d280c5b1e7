#!/usr/bin/env bash
# The test command: from a fresh clone to green in one step.
#   1. scripts/setup.sh installs whatever this machine lacks (quick when all is present).
#   2. Configure with a CMake preset (EDGERT_PRESET, default "default"; CI uses "ci"). The build
#      directory is kept between runs, so a second run rebuilds only what changed; ccache is on.
#   3. Build with $(nproc) jobs (EDGERT_JOBS overrides), then run every ctest test.
#   4. When EDGERT_FUZZ_SECONDS is set, build the "fuzz" preset (clang, libFuzzer) and fuzz the
#      ONNX importer for that many seconds on a seed corpus.
# Exits non-zero on the first failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start_s=$(date +%s)
preset=${EDGERT_PRESET:-default}
jobs=${EDGERT_JOBS:-$(nproc)}

bash scripts/setup.sh

export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
# CUDA code compiles wherever nvcc exists; the toolkit's default place is often not on PATH.
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

echo "test.sh: configure (preset $preset)"
cmake --preset "$preset"
echo "test.sh: build ($jobs jobs)"
cmake --build --preset "$preset" -j "$jobs"
echo "test.sh: ctest"
ctest --preset "$preset" --output-on-failure -j "$jobs"

if [[ -n ${EDGERT_FUZZ_SECONDS:-} ]]; then
  echo "test.sh: fuzz the ONNX importer for ${EDGERT_FUZZ_SECONDS} s"
  cmake --preset fuzz
  # Fails (unknown target) if the fuzz target is missing: never skip silently.
  cmake --build --preset fuzz -j "$jobs" --target onnx_import_fuzz
  fuzzer=build-fuzz/tests/fuzz/onnx_import_fuzz
  if [[ ! -x $fuzzer ]]; then
    echo "test.sh: $fuzzer was not built" >&2
    exit 1
  fi
  # Seeds: the corpus kept in the repository (if any) and a few small models of ONNX's node
  # tests. New inputs go to build-fuzz/fuzz-corpus, so the seeds stay untouched.
  seeds=build-fuzz/fuzz-seeds
  rm -rf "$seeds"
  mkdir -p "$seeds" build-fuzz/fuzz-corpus
  node_dir=$(python3 -c "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data', 'node'))")
  for case_name in test_add test_conv_with_strides_padding test_reshape_extended_dims test_concat_2d_axis_0 \
                   test_resize_upsample_scales_nearest test_split_equal_parts_1d_opset18 test_gather_0; do
    if [[ -f $node_dir/$case_name/model.onnx ]]; then
      cp "$node_dir/$case_name/model.onnx" "$seeds/$case_name.onnx"
    fi
  done
  corpus_dirs=(build-fuzz/fuzz-corpus "$seeds")
  if [[ -d tests/fuzz/corpus ]]; then
    corpus_dirs+=(tests/fuzz/corpus)
  fi
  "$fuzzer" -max_total_time="$EDGERT_FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/ "${corpus_dirs[@]}"
fi

echo "test.sh: all passed in $(( $(date +%s) - start_s )) s"
