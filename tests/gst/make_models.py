#!/usr/bin/env python3
"""Writes the small models and configs the edgertinfer tests use into OUTDIR.

classifier.onnx  x[N,3,H,W] (all dynamic but channels) -> Conv3x3(3->4)+Relu -> mean over H,W ->
                 MatMul(4x5)+Add -> logits[N,5]; random weights (fixed seed)
classifier.yaml  classifier config: 48x32 stretch, rgb, mean/std, labels a..e, softmax-topk top-3
static.onnx      the same network with a fixed input [1,3,32,32] (usable without a config)
classifier_b.onnx the classifier with other random weights (seed 8): a fallback plan's model
classifier16.onnx x[N,3,H,W] -> Conv3x3(3->16)+Relu -> Conv3x3(16->16)+Relu -> mean -> MatMul(16x5)+Add:
                 the second convolution can run INT8 (16 input channels)
classifier16.yaml the classifier config for it
einsum.onnx      x[1,3,8,8] -> Einsum (an op edgert does not support)
bad_key.yaml     the classifier config with an unknown key `bogus-key`
detector.onnx    YOLOv8-style head: x[N,3,64,64] -> Conv8x8 stride 8 (3->4+3) -> [N,7,64] -> Sigmoid,
                 rows scaled to cx,cy in [0,64), w,h in [4,36), 3 class scores; random weights
detector.yaml    yolov8 detector config for it: 64x64 letterbox, labels p,q,r, threshold 0.5
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save_model(model, path):
    """Writes atomically: ctest may run several test processes that all generate the models."""
    tmp = f"{path}.{os.getpid()}.tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def save_text(text, path):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def classifier(path, dims, seed=7):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.5
    b = rng.standard_normal(4).astype(np.float32) * 0.1
    fc = rng.standard_normal((4, 5)).astype(np.float32)
    fb = rng.standard_normal(5).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("ReduceMean", ["r"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["m", "fc"], ["mm"]),
        helper.make_node("Add", ["mm", "fb"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [dims[0], 5])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(fc, "fc"), numpy_helper.from_array(fb, "fb")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    save_model(model, path)


def einsum(path):
    graph = helper.make_graph(
        [helper.make_node("Einsum", ["x"], ["y"], equation="bchw->bhwc")], "einsum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    save_model(model, path)


def detector(path):
    """A tiny YOLOv8-style detector: output [B, 4+C, N] (C = 3, N = 64 anchors on an 8x8 grid)."""
    rng = np.random.default_rng(11)
    channels = 4 + 3
    w = (rng.standard_normal((channels, 3, 8, 8)) * 0.3).astype(np.float32)
    # Class rows biased around zero so that roughly half the anchors' best class passes 0.5.
    b = np.array([0, 0, -1, -1, -0.5, -0.5, -0.5], dtype=np.float32)
    scale = np.array([64, 64, 32, 32, 1, 1, 1], dtype=np.float32).reshape(1, channels, 1)
    offset = np.array([0, 0, 4, 4, 0, 0, 0], dtype=np.float32).reshape(1, channels, 1)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Reshape", ["c", "shape"], ["flat"]),
        helper.make_node("Sigmoid", ["flat"], ["sig"]),
        helper.make_node("Mul", ["sig", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "offset"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "detector",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", channels, 64])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(np.array([0, channels, 64], dtype=np.int64), "shape"),
         numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(offset, "offset")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    save_model(model, path)


DETECTOR_CONFIG = """model: detector.onnx
type: detector
input:
  name: x
  width: 64
  height: 64
  resize: letterbox
  color: rgb
  scale: 1/255
  mean: [0, 0, 0]
  std: [1, 1, 1]
  pad-value: 114
labels: [p, q, r]
decoder:
  kind: yolov8
  threshold: 0.5
  nms-iou: 0.45
  max-detections: 100
"""


def classifier16(path, seed=9):
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((16, 3, 3, 3)).astype(np.float32) * 0.5
    b1 = rng.standard_normal(16).astype(np.float32) * 0.1
    w2 = rng.standard_normal((16, 16, 3, 3)).astype(np.float32) * 0.15
    b2 = rng.standard_normal(16).astype(np.float32) * 0.1
    fc = rng.standard_normal((16, 5)).astype(np.float32)
    fb = rng.standard_normal(5).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("ReduceMean", ["r2"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["m", "fc"], ["mm"]),
        helper.make_node("Add", ["mm", "fb"], ["logits"]),
    ]
    dims = ["N", 3, "H", "W"]
    graph = helper.make_graph(
        nodes, "classifier16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(a, n) for a, n in
         [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (fc, "fc"), (fb, "fb")]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    save_model(model, path)


CONFIG = """model: classifier.onnx
type: classifier
input:
  name: x
  width: 48
  height: 32
  resize: stretch
  color: rgb
  mean: [0.5, 0.4, 0.3]
  std: [0.25, 0.5, 0.2]
labels: [a, b, c, d, e]
decoder:
  kind: softmax-topk
  top-k: 3
  threshold: 0.0
"""


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    classifier(os.path.join(out, "classifier.onnx"), ["N", 3, "H", "W"])
    classifier(os.path.join(out, "static.onnx"), [1, 3, 32, 32])
    classifier(os.path.join(out, "classifier_b.onnx"), ["N", 3, "H", "W"], seed=8)
    classifier16(os.path.join(out, "classifier16.onnx"))
    save_text(CONFIG.replace("classifier.onnx", "classifier16.onnx"), os.path.join(out, "classifier16.yaml"))
    einsum(os.path.join(out, "einsum.onnx"))
    save_text(CONFIG, os.path.join(out, "classifier.yaml"))
    save_text(CONFIG + "bogus-key: 1\n", os.path.join(out, "bad_key.yaml"))
    detector(os.path.join(out, "detector.onnx"))
    save_text(DETECTOR_CONFIG, os.path.join(out, "detector.yaml"))


if __name__ == "__main__":
    main()
