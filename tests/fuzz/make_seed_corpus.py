"""Writes the seed corpus of onnx_import_fuzz into OUT_DIR.

Seeds: a handful of ONNX backend-test models (different operators, attributes of every kind,
Constant nodes, subgraphs) plus small models built here that exercise what the node tests lack:
initializers in every storage field, external data pointing at "weights.bin" (the fuzzer creates
that file), symbolic dimensions and value_info.
Usage: make_seed_corpus.py OUT_DIR
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NODE_TESTS = [
    "test_relu", "test_add_bcast", "test_conv_with_strides_padding", "test_constant",
    "test_reshape_extended_dims", "test_gather_0", "test_slice", "test_batchnorm_example",
    "test_resize_upsample_scales_nearest", "test_if", "test_concat_2d_axis_0", "test_transpose_default",
    "test_maxpool_2d_pads", "test_softmax_axis_1", "test_cast_FLOAT_to_FLOAT16", "test_split_equal_parts_1d_opset13",
    "test_shape", "test_constantofshape_float_ones", "test_range_float_type_positive_delta", "test_topk",
]


def generated_models():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    w_raw = numpy_helper.from_array(np.arange(3, dtype=np.float32), "w")
    w_typed = helper.make_tensor("w2", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    i64 = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 3])
    f16 = helper.make_tensor("h", TensorProto.FLOAT16, [2], np.array([1, 2], dtype=np.float16).view(np.uint16))
    nodes = [
        helper.make_node("Mul", ["x", "w"], ["a"]),
        helper.make_node("Add", ["a", "w2"], ["b"]),
        helper.make_node("Constant", [], ["c"], value_floats=[0.5, 0.25, 0.125]),
        helper.make_node("Mul", ["b", "c"], ["d"]),
        helper.make_node("Reshape", ["d", "shape"], ["y"]),
    ]
    g = helper.make_graph(nodes, "typed", [x], [y], [w_raw, w_typed, i64, f16],
                          value_info=[helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3])])
    yield "typed_storage.onnx", helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    ext = TensorProto()
    ext.name = "wext"
    ext.data_type = TensorProto.FLOAT
    ext.dims.extend([4])
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "16"), ("length", "16")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    x2 = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y2 = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    g2 = helper.make_graph([helper.make_node("Add", ["x", "wext"], ["y"])], "ext", [x2], [y2], [ext])
    yield "external_data.onnx", helper.make_model(g2, opset_imports=[helper.make_opsetid("", 13)])

    x3 = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 2])
    y3 = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    g3 = helper.make_graph([helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")], "up", [x3], [y3],
                           [scales])
    yield "upsample_opset9.onnx", helper.make_model(g3, opset_imports=[helper.make_opsetid("", 9)])


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    node_dir = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    for name in NODE_TESTS:
        src = os.path.join(node_dir, name, "model.onnx")
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(out_dir, name + ".onnx"))
    for name, model in generated_models():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(model.SerializeToString())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
