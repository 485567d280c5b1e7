#!/usr/bin/env python3
"""Builds the whole-model test set with onnx.helper and random weights, and its reference data.

Each model goes to OUT/<name>/model.onnx with OUT/<name>/test_data_set_0/{input_K,output_K}.pb,
the outputs computed by ONNX Runtime (CPU provider) on fresh random inputs. Weights use fixed seeds
(the models are the same on every run); inputs use --input-seed (random by default, printed).

Models (opset 17):
  resnet       ResNet-style: 7x7/2 stem + BatchNorm + MaxPool, four basic residual blocks (two with
               a 1x1/2 downsample), GlobalAveragePool, Flatten, Gemm; 1x3x64x64
  mobilenetv2  inverted residuals: 1x1 expand, depthwise 3x3 (group = C), 1x1 project, BatchNorm,
               Clip 0..6 with min/max as inputs; 1x3x64x64
  yolo         SiLU (Conv, Sigmoid, Mul), C2f-style Split/Concat, SPPF MaxPools, Resize nearest x2
               by scales, two heads Conv -> Reshape -> Transpose -> Sigmoid whose shapes come from
               Shape -> Gather -> Unsqueeze -> Concat chains as PyTorch exports them; 1x3x128x128
  vit          ViT block: patch-embed Conv, Reshape/Transpose, LayerNormalization, MatMul+Add QKV,
               multi-head Softmax attention scaled by Div sqrt(d), Erf GELU MLP, residual Adds
  dynamic      dynamic batch (dim_param "N"), run at batch 2 (needs --shapes)
  external     weights stored as external data in weights.bin beside the model
  unknown_op   a model with an operator edgert does not know (only for `edgert check`)
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """Collects nodes and initializers; names are unique and readable."""

    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.counter = {}

    def unique(self, base):
        n = self.counter.get(base, 0)
        self.counter[base] = n + 1
        return f"{base}_{n}"

    def const(self, base, array):
        name = self.unique(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, base, shape, fan_in):
        return self.const(base, (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))

    def node(self, op, inputs, n_out=1, base=None, **attrs):
        node_name = self.unique(base or op.lower())
        outputs = [f"{node_name}_out{k}" if n_out > 1 else f"{node_name}_out" for k in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=node_name, **attrs))
        return outputs if n_out > 1 else outputs[0]

    # Building blocks.
    def conv(self, x, c_in, c_out, k, stride=1, pad=None, group=1, bias=True):
        pad = k // 2 if pad is None else pad
        w = self.weight("w", (c_out, c_in // group, k, k), fan_in=(c_in // group) * k * k)
        inputs = [x, w]
        if bias:
            inputs.append(self.const("b", (self.rng.standard_normal(c_out) * 0.1).astype(np.float32)))
        return self.node("Conv", inputs, base="conv", kernel_shape=[k, k], strides=[stride, stride],
                         pads=[pad] * 4, group=group)

    def batchnorm(self, x, c):
        scale = self.const("bn_scale", self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        bias = self.const("bn_bias", (self.rng.standard_normal(c) * 0.1).astype(np.float32))
        mean = self.const("bn_mean", (self.rng.standard_normal(c) * 0.1).astype(np.float32))
        var = self.const("bn_var", self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        return self.node("BatchNormalization", [x, scale, bias, mean, var], base="bn", epsilon=1e-5)

    def silu(self, x):
        return self.node("Mul", [x, self.node("Sigmoid", [x])], base="silu")

    def conv_silu(self, x, c_in, c_out, k, stride=1):
        return self.silu(self.conv(x, c_in, c_out, k, stride))

    def linear(self, x, d_in, d_out):
        w = self.weight("w", (d_in, d_out), fan_in=d_in)
        b = self.const("b", (self.rng.standard_normal(d_out) * 0.1).astype(np.float32))
        return self.node("Add", [self.node("MatMul", [x, w]), b], base="bias")

    def model(self, inputs, outputs):
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="edgert-tests")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def float_input(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def resnet():
    g = GraphBuilder("resnet_style", seed=1)
    x = g.conv("input", 3, 16, 7, stride=2, pad=3, bias=False)
    x = g.node("Relu", [g.batchnorm(x, 16)])
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])

    def basic_block(x, c_in, c_out, stride):
        y = g.node("Relu", [g.batchnorm(g.conv(x, c_in, c_out, 3, stride, bias=False), c_out)])
        y = g.batchnorm(g.conv(y, c_out, c_out, 3, 1, bias=False), c_out)
        if stride != 1 or c_in != c_out:
            x = g.batchnorm(g.conv(x, c_in, c_out, 1, stride, pad=0, bias=False), c_out)
        return g.node("Relu", [g.node("Add", [y, x], base="residual")])

    x = basic_block(x, 16, 16, 1)
    x = basic_block(x, 16, 32, 2)
    x = basic_block(x, 32, 32, 1)
    x = basic_block(x, 32, 64, 2)
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    w = g.weight("fc_w", (10, 64), fan_in=64)
    b = g.const("fc_b", (g.rng.standard_normal(10) * 0.1).astype(np.float32))
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["logits"], name="fc", transB=1))
    return g.model([float_input("input", [1, 3, 64, 64])], [float_input("logits", [1, 10])])


def mobilenetv2():
    g = GraphBuilder("mobilenetv2_style", seed=2)
    zero = g.const("clip_min", np.array(0.0, dtype=np.float32))
    six = g.const("clip_max", np.array(6.0, dtype=np.float32))

    def relu6(x):
        return g.node("Clip", [x, zero, six], base="relu6")

    x = relu6(g.batchnorm(g.conv("input", 3, 16, 3, stride=2, bias=False), 16))

    def inverted_residual(x, c_in, c_out, stride, expand):
        hidden = c_in * expand
        y = relu6(g.batchnorm(g.conv(x, c_in, hidden, 1, pad=0, bias=False), hidden))
        y = relu6(g.batchnorm(g.conv(y, hidden, hidden, 3, stride, group=hidden, bias=False), hidden))
        y = g.batchnorm(g.conv(y, hidden, c_out, 1, pad=0, bias=False), c_out)
        if stride == 1 and c_in == c_out:
            y = g.node("Add", [x, y], base="residual")
        return y

    x = inverted_residual(x, 16, 16, 1, 1)
    x = inverted_residual(x, 16, 24, 2, 6)
    x = inverted_residual(x, 24, 24, 1, 6)
    x = inverted_residual(x, 24, 32, 2, 6)
    x = relu6(g.batchnorm(g.conv(x, 32, 64, 1, pad=0, bias=False), 64))
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    w = g.weight("fc_w", (10, 64), fan_in=64)
    b = g.const("fc_b", (g.rng.standard_normal(10) * 0.1).astype(np.float32))
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["logits"], name="classifier", transB=1))
    return g.model([float_input("input", [1, 3, 64, 64])], [float_input("logits", [1, 10])])


def yolo():
    g = GraphBuilder("yolo_style", seed=3)
    anchors, classes = 3, 4
    per_anchor = 5 + classes
    x = g.conv_silu("images", 3, 16, 3, stride=2)   # 64x64
    x = g.conv_silu(x, 16, 32, 3, stride=2)         # 32x32
    # C2f-style block: 1x1 conv, Split in two, a bottleneck on the second half, Concat all three.
    x = g.conv_silu(x, 32, 32, 1)
    halves = g.node("Split", [x, g.const("split", np.array([16, 16], dtype=np.int64))], n_out=2, axis=1)
    y = g.conv_silu(g.conv_silu(halves[1], 16, 16, 3), 16, 16, 3)
    y = g.node("Add", [halves[1], y], base="bottleneck_add")
    p3 = g.conv_silu(g.node("Concat", [halves[0], halves[1], y], axis=1), 48, 32, 1)  # 32x32
    p4 = g.conv_silu(p3, 32, 64, 3, stride=2)                                         # 16x16
    # SPPF: three chained 5x5 MaxPools, concatenated with their input.
    s = g.conv_silu(p4, 64, 32, 1)
    m1 = g.node("MaxPool", [s], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])
    m2 = g.node("MaxPool", [m1], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])
    m3 = g.node("MaxPool", [m2], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])
    p4 = g.conv_silu(g.node("Concat", [s, m1, m2, m3], axis=1), 128, 64, 1)
    # Top-down: Resize nearest x2 by scales, Concat with P3.
    up = g.node("Resize", [p4, "", g.const("scales", np.array([1, 1, 2, 2], dtype=np.float32))],
                mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    h3 = g.conv_silu(g.node("Concat", [up, p3], axis=1), 96, 32, 1)

    def batch_dim(t):
        # Shape -> Gather(0) -> Unsqueeze: the batch size as a 1-element int64 tensor.
        n = g.node("Gather", [g.node("Shape", [t]), g.const("idx", np.array(0, dtype=np.int64))], axis=0)
        return g.node("Unsqueeze", [n, g.const("axes", np.array([0], dtype=np.int64))])

    def head(t, c_in, size):
        raw = g.conv(t, c_in, anchors * per_anchor, 1, pad=0)
        n = batch_dim(raw)
        shape5 = g.node("Concat", [n, g.const("dims", np.array([anchors, per_anchor, size, size], dtype=np.int64))],
                        axis=0)
        r = g.node("Reshape", [raw, shape5])
        r = g.node("Sigmoid", [g.node("Transpose", [r], perm=[0, 1, 3, 4, 2])])
        shape3 = g.node("Concat", [batch_dim(r), g.const("dims", np.array([-1, per_anchor], dtype=np.int64))], axis=0)
        return g.node("Reshape", [r, shape3])

    d3 = head(h3, 32, 32)
    d4 = head(p4, 64, 16)
    g.nodes.append(helper.make_node("Concat", [d3, d4], ["detections"], name="detect_concat", axis=1))
    total = anchors * (32 * 32 + 16 * 16)
    return g.model([float_input("images", [1, 3, 128, 128])], [float_input("detections", [1, total, per_anchor])])


def vit():
    g = GraphBuilder("vit_block", seed=4)
    dim, heads, tokens = 32, 4, 64
    head_dim = dim // heads
    x = g.conv("pixels", 3, dim, 4, stride=4, pad=0)  # 1x32x8x8
    x = g.node("Reshape", [x, g.const("shape", np.array([1, dim, tokens], dtype=np.int64))])
    x = g.node("Transpose", [x], perm=[0, 2, 1])       # 1x64x32
    pos = g.const("pos_embed", (g.rng.standard_normal((1, tokens, dim)) * 0.02).astype(np.float32))
    x = g.node("Add", [x, pos], base="pos_add")

    def layer_norm(t):
        scale = g.const("ln_scale", g.rng.uniform(0.8, 1.2, dim).astype(np.float32))
        bias = g.const("ln_bias", (g.rng.standard_normal(dim) * 0.05).astype(np.float32))
        return g.node("LayerNormalization", [t, scale, bias], base="ln", axis=-1, epsilon=1e-5)

    # Attention.
    qkv = g.linear(layer_norm(x), dim, 3 * dim)
    q, k, v = g.node("Split", [qkv, g.const("split", np.array([dim] * 3, dtype=np.int64))], n_out=3, axis=-1)
    head_shape = g.const("heads_shape", np.array([1, tokens, heads, head_dim], dtype=np.int64))
    q = g.node("Transpose", [g.node("Reshape", [q, head_shape])], perm=[0, 2, 1, 3])
    k = g.node("Transpose", [g.node("Reshape", [k, head_shape])], perm=[0, 2, 3, 1])
    v = g.node("Transpose", [g.node("Reshape", [v, head_shape])], perm=[0, 2, 1, 3])
    scores = g.node("Div", [g.node("MatMul", [q, k]), g.const("sqrt_d", np.array(np.sqrt(head_dim), dtype=np.float32))])
    attn = g.node("MatMul", [g.node("Softmax", [scores], axis=-1), v])
    attn = g.node("Transpose", [attn], perm=[0, 2, 1, 3])
    attn = g.node("Reshape", [attn, g.const("shape", np.array([1, tokens, dim], dtype=np.int64))])
    x = g.node("Add", [x, g.linear(attn, dim, dim)], base="residual")
    # MLP with Erf GELU: 0.5 * h * (1 + erf(h / sqrt(2))).
    h = g.linear(layer_norm(x), dim, 2 * dim)
    e = g.node("Erf", [g.node("Div", [h, g.const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))])])
    e = g.node("Add", [e, g.const("one", np.array(1.0, dtype=np.float32))])
    h = g.node("Mul", [g.node("Mul", [h, e]), g.const("half", np.array(0.5, dtype=np.float32))], base="gelu")
    x = g.node("Add", [x, g.linear(h, 2 * dim, dim)], base="residual")
    g.nodes.append(helper.make_node("LayerNormalization", [x, g.const("ln_scale", np.ones(dim, np.float32)),
                                                           g.const("ln_bias", np.zeros(dim, np.float32))],
                                    ["tokens"], name="final_ln", axis=-1, epsilon=1e-5))
    return g.model([float_input("pixels", [1, 3, 32, 32])], [float_input("tokens", [1, tokens, dim])])


def dynamic():
    g = GraphBuilder("dynamic_batch", seed=5)
    x = g.node("Relu", [g.conv("input", 3, 8, 3, stride=2)])
    x = g.node("Relu", [g.conv(x, 8, 16, 3, stride=2)])
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    w = g.weight("fc_w", (16, 5), fan_in=16)
    b = g.const("fc_b", (g.rng.standard_normal(5) * 0.1).astype(np.float32))
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["scores"], name="fc"))
    return g.model([float_input("input", ["N", 3, 32, 32])], [float_input("scores", ["N", 5])])


def external():
    g = GraphBuilder("external_weights", seed=6)
    x = g.node("Relu", [g.batchnorm(g.conv("input", 3, 32, 3, bias=False), 32)])
    x = g.node("Relu", [g.conv(x, 32, 32, 3, stride=2)])
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    w = g.weight("fc_w", (32, 8), fan_in=32)
    g.nodes.append(helper.make_node("MatMul", [x, w], ["features"], name="projection"))
    return g.model([float_input("input", [1, 3, 32, 32])], [float_input("features", [1, 8])])


def unknown_op():
    g = GraphBuilder("unknown_op", seed=7)
    x = g.node("Relu", ["input"])
    g.nodes.append(helper.make_node("FancyUnknownOp", [x], ["output"], name="mystery_node"))
    graph = helper.make_graph(g.nodes, g.name, [float_input("input", [1, 4])], [float_input("output", [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgert-tests")


# name -> (builder, input shapes used for the reference run, --shapes option or None)
MODELS = {
    "resnet": (resnet, {"input": [1, 3, 64, 64]}, None),
    "mobilenetv2": (mobilenetv2, {"input": [1, 3, 64, 64]}, None),
    "yolo": (yolo, {"images": [1, 3, 128, 128]}, None),
    "vit": (vit, {"pixels": [1, 3, 32, 32]}, None),
    "dynamic": (dynamic, {"input": [2, 3, 32, 32]}, "input:2x3x32x32"),
    "external": (external, {"input": [1, 3, 32, 32]}, None),
}


def write_model(name, out_dir, input_seed):
    import onnxruntime as ort

    build, input_shapes, shapes_option = MODELS[name]
    model_dir = os.path.join(out_dir, name)
    data_dir = os.path.join(model_dir, "test_data_set_0")
    os.makedirs(data_dir, exist_ok=True)
    model = build()
    model_path = os.path.join(model_dir, "model.onnx")
    if name == "external":
        for stale in ("weights.bin",):
            if os.path.exists(os.path.join(model_dir, stale)):
                os.remove(os.path.join(model_dir, stale))
        onnx.save_model(model, model_path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=0)
    else:
        onnx.save_model(model, model_path)

    rng = np.random.default_rng(input_seed)
    feeds = {}
    for k, value in enumerate(model.graph.input):
        array = rng.standard_normal(input_shapes[value.name]).astype(np.float32)
        feeds[value.name] = array
        with open(os.path.join(data_dir, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(array, value.name).SerializeToString())
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    for k, (value, array) in enumerate(zip(model.graph.output, outputs)):
        with open(os.path.join(data_dir, f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(array, value.name).SerializeToString())
    return {"name": name, "dir": model_dir, "model": model_path, "nodes": len(model.graph.node),
            "shapes": shapes_option, "outputs": [o.name for o in model.graph.output]}


def write_all(out_dir, input_seed):
    """Writes every model and the unknown-op model; returns the manifest (also saved as JSON)."""
    os.makedirs(out_dir, exist_ok=True)
    manifest = {"input_seed": input_seed, "models": [write_model(name, out_dir, input_seed) for name in MODELS]}
    bad_dir = os.path.join(out_dir, "unknown_op")
    os.makedirs(bad_dir, exist_ok=True)
    onnx.save_model(unknown_op(), os.path.join(bad_dir, "model.onnx"))
    manifest["unknown_op"] = {"model": os.path.join(bad_dir, "model.onnx"), "op": "FancyUnknownOp",
                              "node": "mystery_node"}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--input-seed", type=int, default=None, help="seed of the random inputs (default: fresh)")
    parser.add_argument("--only", choices=sorted(MODELS), help="write only this model")
    args = parser.parse_args()
    seed = args.input_seed if args.input_seed is not None else int.from_bytes(os.urandom(4), "little")
    if args.only:
        info = write_model(args.only, args.out_dir, seed)
        print(f"{info['name']}: {info['nodes']} nodes -> {info['model']} (input seed {seed})")
        return 0
    manifest = write_all(args.out_dir, seed)
    for info in manifest["models"]:
        print(f"{info['name']}: {info['nodes']} nodes -> {info['model']}")
    print(f"input seed {seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
