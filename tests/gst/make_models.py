#!/usr/bin/env python3
"""Writes the small models and configs the edgertinfer tests use into OUTDIR.

classifier.onnx  x[N,3,H,W] (all dynamic but channels) -> Conv3x3(3->4)+Relu -> mean over H,W ->
                 MatMul(4x5)+Add -> logits[N,5]; random weights (fixed seed)
classifier.yaml  classifier config: 48x32 stretch, rgb, mean/std, labels a..e, softmax-topk top-3
static.onnx      the same network with a fixed input [1,3,32,32] (usable without a config)
einsum.onnx      x[1,3,8,8] -> Einsum (an op edgert does not support)
bad_key.yaml     the classifier config with an unknown key `bogus-key`
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


def classifier(path, dims):
    rng = np.random.default_rng(7)
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
    einsum(os.path.join(out, "einsum.onnx"))
    save_text(CONFIG, os.path.join(out, "classifier.yaml"))
    save_text(CONFIG + "bogus-key: 1\n", os.path.join(out, "bad_key.yaml"))


if __name__ == "__main__":
    main()
