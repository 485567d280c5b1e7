#!/bin/sh
# gst-launch-1.0 checks for edgertinfer (run by ctest with GST_PLUGIN_PATH set):
#   ok       videotestsrc (30 NV12 frames, 320x240) ! edgertinfer model=static.onnx device=cpu ! fakesink
#            exits 0 and the element reported a ready session
#   missing  the same with a model path that does not exist exits non-zero and names the file
#   inspect  gst-inspect-1.0 edgertinfer lists the element's properties (no GPU needed)
# usage: launch_test.sh MODE GST_LAUNCH PYTHON3 MAKE_MODELS WORKDIR
set -u
mode=$1 launch=$2 python=$3 make_models=$4 work=$5
rm -rf "$work" && mkdir -p "$work" || exit 1
"$python" "$make_models" "$work" || exit 1
case $mode in
  ok)
    "$launch" -m videotestsrc num-buffers=30 ! video/x-raw,format=NV12,width=320,height=240 ! \
      edgertinfer model="$work/static.onnx" device=cpu cache-dir="$work/cache" ! fakesink \
      >"$work/out.txt" 2>&1
    rc=$?
    cat "$work/out.txt"
    [ $rc -eq 0 ] || { echo "FAIL: gst-launch exited $rc"; exit 1; }
    grep -q "edgert-build" "$work/out.txt" || { echo "FAIL: no edgert-build message"; exit 1; }
    ;;
  missing)
    "$launch" videotestsrc num-buffers=30 ! video/x-raw,format=NV12,width=320,height=240 ! \
      edgertinfer model="$work/no_such_model.onnx" device=cpu ! fakesink >"$work/out.txt" 2>"$work/err.txt"
    rc=$?
    cat "$work/out.txt" "$work/err.txt"
    [ $rc -ne 0 ] || { echo "FAIL: gst-launch exited 0 with a missing model"; exit 1; }
    grep -q "no_such_model.onnx" "$work/err.txt" || { echo "FAIL: stderr does not name the model file"; exit 1; }
    ;;
  inspect)
    inspect=$(dirname "$launch")/gst-inspect-1.0
    "$inspect" edgertinfer >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "FAIL: gst-inspect-1.0"; exit 1; }
    cat "$work/out.txt"
    for prop in model plan config precision batch-size batch-timeout interval device device-id threshold \
                nms-iou cache-dir output-tensors calibration-frames calibration-interval calibration-dir \
                frame-copies backend; do
      grep -qE "^  $prop *:" "$work/out.txt" || { echo "FAIL: property $prop missing"; exit 1; }
    done
    ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac
echo PASS
