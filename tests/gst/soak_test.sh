#!/bin/bash
# Soak test of edgertinfer + edgertoverlay on the CPU backend (a small classifier, 64x48 NV12):
#   1. FRAMES (default 10000) frames under valgrind memcheck: no invalid access, no definitely lost
#      block (glib's one-time library initialisation is suppressed: tests/gst/valgrind.supp);
#   2. 5 × FRAMES frames natively with the process's anonymous resident memory sampled every 0.2 s:
#      a per-frame leak grows it by more than 1 MiB both from the first third of the run to the
#      second and from the second to the last (flat memory: nothing grows per frame).
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
# Anonymous resident memory (RssAnon) is what a leak grows; file-backed pages of the shared
# libraries come and go with the kernel's page cache and say nothing about leaks. The run is cut in
# thirds: a leak grows memory in both the second and the last third, a one-time step (a lazily
# created malloc arena, a library's first use) in one of them at most.
# shellcheck disable=SC2046
"$launch" -q $(pipeline "$native") &
pid=$!
samples=()
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  [ -n "$rss" ] && samples+=("$rss")
  # Mapping snapshots for the report: one early, one refreshed while the run goes on.
  if [ ${#samples[@]} -eq 5 ]; then cp "/proc/$pid/smaps" "$work/smaps.early" 2>/dev/null; fi
  if [ $((${#samples[@]} % 5)) -eq 0 ]; then cp "/proc/$pid/smaps" "$work/smaps.late" 2>/dev/null; fi
  sleep 0.2
done
wait "$pid" || { echo "soak: the native run failed"; exit 1; }
n=${#samples[@]}
if [ "$n" -lt 9 ]; then
  echo "soak: only $n memory samples in the native run of $native frames; run more frames"
  exit 1
fi
max=(0 0 0)
for ((i = 0; i < n; i++)); do
  t=$((i * 3 / n))
  ((samples[i] > max[t])) && max[t]=${samples[i]}
done
grow1=$((max[1] - max[0])) grow2=$((max[2] - max[1]))
echo "soak: $native frames natively, $n samples of anonymous resident memory: max ${max[0]}, ${max[1]}, ${max[2]} KiB in the three thirds"
if ((grow1 > 1024 && grow2 > 1024)); then
  echo "soak: anonymous memory grew by $grow1 KiB, then by $grow2 KiB: something leaks per frame"
  if [ -f "$work/smaps.early" ] && [ -f "$work/smaps.late" ]; then
    echo "soak: mappings whose resident size grew most (KiB, early -> late):"
    "$python" - "$work/smaps.early" "$work/smaps.late" <<'PY'
import sys
def read(path):
    rss, key = {}, None
    for line in open(path):
        f = line.split()
        if f and "-" in f[0] and not f[0].endswith(":"):
            key = f[0] + " " + (f[5] if len(f) > 5 else "[anon]")
        elif f and f[0] == "Rss:" and key:
            rss[key] = int(f[1])
    return rss
a, b = read(sys.argv[1]), read(sys.argv[2])
for key in sorted(b, key=lambda k: a.get(k, 0) - b[k])[:8]:
    print(f"  {a.get(key, 0):8d} -> {b[key]:8d}  {key}")
PY
  fi
  exit 1
fi
if ((grow1 > 1024 || grow2 > 1024)); then
  echo "soak: one step of $((grow1 > grow2 ? grow1 : grow2)) KiB, not repeated: not a per-frame leak"
fi
echo "soak: memory flat"
