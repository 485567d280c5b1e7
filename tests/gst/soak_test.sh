#!/bin/bash
# Soak test of edgertinfer + edgertoverlay on the CPU backend (a small classifier, 64x48 NV12):
#   1. FRAMES (default 10000) frames under valgrind memcheck: no invalid access, no definitely lost
#      block (glib's one-time library initialisation is suppressed: tests/gst/valgrind.supp);
#   2. 5 × FRAMES frames natively with the process's resident memory sampled every 0.2 s: the
#      largest RSS of the second half may exceed the largest of the first half by at most 2 MiB
#      (flat memory: nothing grows per frame).
# usage: soak_test.sh GST_LAUNCH PYTHON3 MAKE_MODELS_PY PLUGIN_DIR WORK_DIR [FRAMES]
set -u
launch=$1 python=$2 make_models=$3 plugin_dir=$4 work=$5 frames=${6:-10000}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
export GST_PLUGIN_PATH=$plugin_dir GST_REGISTRY=$work/registry.bin EDGERT_CACHE_DIR=$work/cache
"$python" "$make_models" "$work" >/dev/null || exit 1
pipeline() {
  echo videotestsrc num-buffers="$1" pattern=ball ! video/x-raw,format=NV12,width=64,height=48 ! \
    edgertinfer config="$work/classifier.yaml" device=cpu ! edgertoverlay ! fakesink
}
# Build the plan and the registry outside valgrind.
# shellcheck disable=SC2046
"$launch" -q $(pipeline 10) || { echo "soak: the pipeline does not run"; exit 1; }

start=$SECONDS
# shellcheck disable=SC2046
valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=3 \
  --suppressions=/usr/share/glib-2.0/valgrind/glib.supp --suppressions="$here/valgrind.supp" \
  "$launch" -q $(pipeline "$frames") > "$work/valgrind.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  grep -E "definitely lost|Invalid|uninitialised" -A14 "$work/valgrind.log" | head -60
  echo "soak: valgrind found errors (exit $rc) in $frames frames; log $work/valgrind.log"
  exit 1
fi
echo "soak: $frames frames under valgrind: no leak, no invalid access ($((SECONDS - start)) s)"

native=$((frames * 5))
# shellcheck disable=SC2046
"$launch" -q $(pipeline "$native") &
pid=$!
samples=()
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  [ -n "$rss" ] && samples+=("$rss")
  sleep 0.2
done
wait "$pid" || { echo "soak: the native run failed"; exit 1; }
n=${#samples[@]}
if [ "$n" -lt 6 ]; then
  echo "soak: only $n RSS samples in the native run of $native frames; run more frames"
  exit 1
fi
first=0 second=0
for ((i = 0; i < n; i++)); do
  if ((i < n / 2)); then ((samples[i] > first)) && first=${samples[i]}; else ((samples[i] > second)) && second=${samples[i]}; fi
done
echo "soak: $native frames natively, $n RSS samples: max $first KiB in the first half, $second KiB in the second"
if ((second - first > 2048)); then
  echo "soak: resident memory grew by $((second - first)) KiB: something leaks per frame"
  exit 1
fi
echo "soak: memory flat"
