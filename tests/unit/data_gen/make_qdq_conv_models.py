"""Writes symmetric-int8 Q/DQ convolution models and ONNX Runtime's outputs for them into DIR
(used by qdq_fold_test.cc: edgert folds their Q/DQ pairs into INT8 convolutions).

  helper_conv.onnx  written with onnx.helper: int8 per-tensor activation Q/DQ with zero point 0,
                    int8 per-channel (axis 0) weight DQ with zero point 0; Conv(16->32, 3x3) +
                    Relu, Q/DQ, Conv(32->32, 3x3, stride 2), Q/DQ of the output.
  static_conv.onnx  a float Conv/Relu/Conv/Relu/Conv model (16 -> 32 -> 32 -> 16 channels)
                    quantized by ONNX Runtime's quantize_static: QDQ format, QInt8 activations and
                    weights, per_channel=True, ActivationSymmetric and WeightSymmetric.
For each NAME: NAME_x.npy (the input, seeded), NAME_ref.npy (ONNX Runtime with graph optimizations
off: the Q/DQ run as written), NAME_opt.npy (ONNX Runtime's default optimizations, which run the
Q/DQ groups as integer kernels) and NAME_step.npy (the scale of the output DequantizeLinear: one
step of the output grid).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort


def run(path, x, optimize):
    so = ort.SessionOptions()
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def per_channel_int8(w):
    scale = (np.abs(w).reshape(w.shape[0], -1).max(axis=1) / 127).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None, None, None]), -128, 127).astype(np.int8)
    return q, scale


def helper_conv_model(path, rng):
    w1_q, w1_s = per_channel_int8(rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1)
    w2_q, w2_s = per_channel_int8(rng.standard_normal((32, 32, 3, 3)).astype(np.float32) * 0.05)
    zero = numpy_helper.from_array(np.array(0, np.int8), "zp")
    inits = [
        zero,
        numpy_helper.from_array(np.array(0.025, np.float32), "x_scale"),
        numpy_helper.from_array(w1_q, "w1_q"),
        numpy_helper.from_array(w1_s, "w1_scale"),
        numpy_helper.from_array(np.zeros(32, np.int8), "w_zp"),
        numpy_helper.from_array((rng.standard_normal(32) * 0.1).astype(np.float32), "b1"),
        numpy_helper.from_array(np.array(0.02, np.float32), "r_scale"),
        numpy_helper.from_array(w2_q, "w2_q"),
        numpy_helper.from_array(w2_s, "w2_scale"),
        numpy_helper.from_array((rng.standard_normal(32) * 0.1).astype(np.float32), "b2"),
        numpy_helper.from_array(np.array(0.015, np.float32), "y_scale"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "zp"], ["xdq"]),
        helper.make_node("DequantizeLinear", ["w1_q", "w1_scale", "w_zp"], ["w1"], axis=0),
        helper.make_node("Conv", ["xdq", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("QuantizeLinear", ["r1", "r_scale", "zp"], ["r1q"]),
        helper.make_node("DequantizeLinear", ["r1q", "r_scale", "zp"], ["r1dq"]),
        helper.make_node("DequantizeLinear", ["w2_q", "w2_scale", "w_zp"], ["w2"], axis=0),
        helper.make_node("Conv", ["r1dq", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("QuantizeLinear", ["c2", "y_scale", "zp"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "y_scale", "zp"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "qdq_helper_conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 6, 6])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def static_conv_model(float_path, path, rng):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static)
    inits = [
        numpy_helper.from_array((rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32), "w1"),
        numpy_helper.from_array((rng.standard_normal(32) * 0.1).astype(np.float32), "b1"),
        numpy_helper.from_array((rng.standard_normal((32, 32, 3, 3)) * 0.06).astype(np.float32), "w2"),
        numpy_helper.from_array((rng.standard_normal(32) * 0.1).astype(np.float32), "b2"),
        numpy_helper.from_array((rng.standard_normal((16, 32, 1, 1)) * 0.2).astype(np.float32), "w3"),
        numpy_helper.from_array((rng.standard_normal(16) * 0.1).astype(np.float32), "b3"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "static_conv_float",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, float_path)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter([{"x": rng.standard_normal((1, 16, 16, 16)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.data, None)

    quantize_static(float_path, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})


def output_step(path):
    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    last = [n for n in model.graph.node if n.output[0] == model.graph.output[0].name][0]
    assert last.op_type == "DequantizeLinear", last.op_type
    return np.asarray(inits[last.input[1]], np.float32).reshape(1)


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(20261127)
    helper_conv_model(os.path.join(out, "helper_conv.onnx"), rng)
    static_conv_model(os.path.join(out, "static_conv_float.onnx"), os.path.join(out, "static_conv.onnx"), rng)
    for name, shape in (("helper_conv", (1, 16, 12, 12)), ("static_conv", (1, 16, 16, 16))):
        x = rng.standard_normal(shape).astype(np.float32)
        path = os.path.join(out, name + ".onnx")
        np.save(os.path.join(out, name + "_x.npy"), x)
        np.save(os.path.join(out, name + "_step.npy"), output_step(path))
        np.save(os.path.join(out, name + "_ref.npy"), run(path, x, False))
        np.save(os.path.join(out, name + "_opt.npy"), run(path, x, True))


if __name__ == "__main__":
    main()
