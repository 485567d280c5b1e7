#!/usr/bin/env python3
"""Writes full-size benchmark models with random weights, as PyTorch exports them in training-free
form (Conv without bias + BatchNormalization + activation), opset 17, input 1x3x224x224:

  OUT/resnet50.onnx     ResNet-50 (bottleneck blocks 3-4-6-3, 1000 classes)
  OUT/mobilenetv2.onnx  MobileNetV2 (width 1.0, Clip 0..6, 1000 classes)

Used by scripts/bench_cpu.sh for the optimizer and memory-plan figures in bench/RESULTS.md.
With --batch=N the input is Nx3x224x224 and the files are OUT/NAME_bN.onnx (same weights).
"""
import os
import sys

import numpy as np
import onnx
from onnx import helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "models"))
from make_models import GraphBuilder, float_input  # noqa: E402


def classifier(g, x, c, classes=1000):
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    w = g.weight("fc_w", (classes, c), fan_in=c)
    b = g.const("fc_b", np.zeros(classes, np.float32))
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["logits"], name="fc", transB=1))
    return g.model([float_input("input", [1, 3, 224, 224])], [float_input("logits", [1, classes])])


def resnet50():
    g = GraphBuilder("resnet50", seed=11)

    def conv_bn(x, c_in, c_out, k, stride=1):
        return g.batchnorm(g.conv(x, c_in, c_out, k, stride, bias=False), c_out)

    x = g.node("Relu", [conv_bn("input", 3, 64, 7, 2)])
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c = 64
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            s = stride if i == 0 else 1
            y = g.node("Relu", [conv_bn(x, c, width, 1)])
            y = g.node("Relu", [conv_bn(y, width, width, 3, s)])
            y = conv_bn(y, width, width * 4, 1)
            skip = conv_bn(x, c, width * 4, 1, s) if i == 0 else x
            x = g.node("Relu", [g.node("Add", [y, skip], base="residual")])
            c = width * 4
    return classifier(g, x, c)


def mobilenetv2():
    g = GraphBuilder("mobilenetv2", seed=12)
    zero = g.const("clip_min", np.array(0.0, dtype=np.float32))
    six = g.const("clip_max", np.array(6.0, dtype=np.float32))

    def conv_bn_relu6(x, c_in, c_out, k, stride=1, group=1):
        y = g.batchnorm(g.conv(x, c_in, c_out, k, stride, group=group, bias=False), c_out)
        return g.node("Clip", [y, zero, six], base="relu6")

    x = conv_bn_relu6("input", 3, 32, 3, 2)
    c = 32
    for expand, c_out, repeats, stride in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(repeats):
            s = stride if i == 0 else 1
            hidden = c * expand
            y = conv_bn_relu6(x, c, hidden, 1) if expand != 1 else x
            y = conv_bn_relu6(y, hidden, hidden, 3, s, group=hidden)
            y = g.batchnorm(g.conv(y, hidden, c_out, 1, bias=False, pad=0), c_out)
            x = g.node("Add", [x, y], base="residual") if s == 1 and c == c_out else y
            c = c_out
    x = conv_bn_relu6(x, c, 1280, 1)
    return classifier(g, x, 1280)


def set_batch(model, batch):
    """The graph input's and output's dim 0 become `batch` (the weights stay the same bytes)."""
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = batch
    return model


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--batch=")]
    batches = [int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--batch=")]
    out = args[0] if args else "bench/models"
    batch = batches[0] if batches else 1
    os.makedirs(out, exist_ok=True)
    for name, make in [("resnet50", resnet50), ("mobilenetv2", mobilenetv2)]:
        model = set_batch(make(), batch) if batch != 1 else make()
        if batch != 1:
            name = f"{name}_b{batch}"
        path = os.path.join(out, f"{name}.onnx")
        onnx.save_model(model, path)
        print(f"{name}: {len(model.graph.node)} nodes -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
