#!/usr/bin/env bash
# The main job, on the CPU: install what is missing, build edgert, write an example ResNet-style
# model (random weights) with ONNX Runtime reference outputs, then check and run it with edgert
# and compare against ONNX Runtime.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
preset=${EDGERT_PRESET:-default}

bash scripts/setup.sh
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
cmake --preset "$preset"
cmake --build --preset "$preset" -j "${EDGERT_JOBS:-$(nproc)}" --target edgert

demo=build/demo
python3 tests/models/make_models.py "$demo" --only resnet
model=$demo/resnet/model.onnx

echo
echo "== edgert check $model"
build/builder/edgert check "$model"
echo
echo "== edgert run $model (CPU), compared with ONNX Runtime"
build/builder/edgert run "$model" --inputs "$demo/resnet/test_data_set_0/input_0.pb" \
  --compare "$demo/resnet/test_data_set_0" --rtol 1e-4 --save-outputs "$demo/resnet/outputs"
echo
echo "demo: outputs saved in $demo/resnet/outputs"
