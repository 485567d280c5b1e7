#!/usr/bin/env bash
# The test command: from a fresh clone to green in one step.
#   1. scripts/setup.sh installs whatever this machine lacks (quick when all is present).
#   2. Configure with a CMake preset (EDGERT_PRESET, default "default"; CI uses "ci"). The build
#      directory is kept between runs, so a second run rebuilds only what changed; ccache is on.
#   3. Build with $(nproc) jobs (EDGERT_JOBS overrides).
#   4. When EDGERT_FUZZ_SECONDS is set, build the "fuzz" preset (clang, libFuzzer) and fuzz the
#      ONNX importer (on a seed corpus) and the plan loader for that many seconds each.
#   5. Run every ctest test (last, so its summary closes the output).
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
if [[ -n ${EDGERT_FUZZ_SECONDS:-} ]]; then
  cmake --preset fuzz
  # Fails (unknown target) if a fuzz target is missing: never skip silently. The corpus target
  # writes the importer's seed corpus (ONNX node-test models and small generated ones); the plan
  # fuzzer builds its own valid plans to mutate.
  cmake --build --preset fuzz -j "$jobs" --target onnx_import_fuzz onnx_import_fuzz_corpus plan_fuzz
  seeds=build-fuzz/tests/fuzz/corpus
  if [[ -z $(ls -A "$seeds" 2>/dev/null) ]]; then
    echo "test.sh: the seed corpus $seeds is empty" >&2
    exit 1
  fi
  # New inputs go to build-fuzz/corpus-<name> (the first directory), so the seeds stay as written;
  # it is kept between runs and grows. A crash leaves its input in build-fuzz/ and fails the run.
  for name in onnx_import_fuzz plan_fuzz; do
    fuzzer=build-fuzz/tests/fuzz/$name
    if [[ ! -x $fuzzer ]]; then
      echo "test.sh: $fuzzer was not built" >&2
      exit 1
    fi
    echo "test.sh: fuzz $name for ${EDGERT_FUZZ_SECONDS} s"
    mkdir -p "build-fuzz/corpus-$name"
    extra=()
    [[ $name == onnx_import_fuzz ]] && extra=("$seeds")
    "$fuzzer" -max_total_time="$EDGERT_FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix=build-fuzz/ "build-fuzz/corpus-$name" "${extra[@]}"
  done
fi

echo "test.sh: ctest"
ctest --preset "$preset" --output-on-failure -j "$jobs"

echo "test.sh: all passed in $(( $(date +%s) - start_s )) s"
