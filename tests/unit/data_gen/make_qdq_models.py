"""Writes Q/DQ models and ONNX Runtime's outputs for them into DIR (used by calibration_test.cc).

  helper.onnx      QuantizeLinear/DequantizeLinear written with onnx.helper: uint8 activation Q/DQ,
                   int8 per-channel (axis 0) weight DQ, Conv + Relu, int8 per-tensor output Q/DQ,
                   a per-axis activation Q/DQ (opset 13 `axis`).
  static.onnx      a float Conv/Relu/Conv/GlobalAveragePool/Gemm model quantized by ONNX Runtime's
                   quantize_static (QDQ format, per-channel weights, uint8 activations).
static_step.npy holds the scale of static.onnx's output DequantizeLinear. For each NAME: NAME_x.npy (the input, seeded), NAME_ref.npy (ONNX Runtime with graph optimizations
off, so Q/DQ run as written) and NAME_opt.npy (ONNX Runtime's default optimizations, which fuse the
Q/DQ groups into integer kernels).
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


def helper_model(path, rng):
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    w_scale = (np.abs(w).reshape(4, -1).max(axis=1) / 127).astype(np.float32)
    w_q = np.clip(np.rint(w / w_scale[:, None, None, None]), -128, 127).astype(np.int8)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(128, np.uint8), "x_zp"),
        numpy_helper.from_array(w_q, "w_q"),
        numpy_helper.from_array(w_scale, "w_scale"),
        numpy_helper.from_array(np.zeros(4, np.int8), "w_zp"),
        numpy_helper.from_array((rng.standard_normal(4) * 0.1).astype(np.float32), "bias"),
        numpy_helper.from_array(np.array(0.01, np.float32), "y_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "y_zp"),
        numpy_helper.from_array(np.array([0.01, 0.02, 0.015, 0.03], np.float32), "c_scale"),
        numpy_helper.from_array(np.array([0, 3, -2, 1], np.int8), "c_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xdq"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], axis=0),
        helper.make_node("Conv", ["xdq", "w", "bias"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["c", "c_scale", "c_zp"], ["cq"], axis=1),
        helper.make_node("DequantizeLinear", ["cq", "c_scale", "c_zp"], ["cdq"], axis=1),
        helper.make_node("Relu", ["cdq"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "y_scale", "y_zp"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "y_scale", "y_zp"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "qdq_helper",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def static_model(float_path, path, rng):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static)
    inits = [
        numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "w1"),
        numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "b1"),
        numpy_helper.from_array((rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32), "w2"),
        numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "b2"),
        numpy_helper.from_array((rng.standard_normal((5, 8)) * 0.5).astype(np.float32), "w3"),
        numpy_helper.from_array((rng.standard_normal(5) * 0.1).astype(np.float32), "b3"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1),
    ]
    graph = helper.make_graph(nodes, "static_float",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, float_path)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter([{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.data, None)

    quantize_static(float_path, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(20261126)
    helper_model(os.path.join(out, "helper.onnx"), rng)
    static_model(os.path.join(out, "static_float.onnx"), os.path.join(out, "static.onnx"), rng)
    # The scale of the DequantizeLinear writing static.onnx's output: one step of the output grid.
    static = onnx.load(os.path.join(out, "static.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in static.graph.initializer}
    last = [n for n in static.graph.node if n.output[0] == static.graph.output[0].name][0]
    np.save(os.path.join(out, "static_step.npy"), np.asarray(inits[last.input[1]], np.float32).reshape(1))
    for name, shape in (("helper", (1, 3, 8, 8)), ("static", (1, 3, 16, 16))):
        x = rng.standard_normal(shape).astype(np.float32)
        path = os.path.join(out, name + ".onnx")
        np.save(os.path.join(out, name + "_x.npy"), x)
        np.save(os.path.join(out, name + "_ref.npy"), run(path, x, False))
        np.save(os.path.join(out, name + "_opt.npy"), run(path, x, True))


if __name__ == "__main__":
    main()
