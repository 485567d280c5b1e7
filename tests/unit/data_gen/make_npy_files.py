"""Writes .npy files with NumPy itself into OUT_DIR, for tensor_file_test.cc.

Each file's contents are fixed formulas that the test checks element by element, so the test
verifies that edgert reads what NumPy writes (format versions 1.0, 2.0 and 3.0 included).
Usage: make_npy_files.py OUT_DIR
"""
import os
import sys

import numpy as np
from numpy.lib import format as npy_format


def save(path, array, version=None):
    with open(path, "wb") as f:
        npy_format.write_array(f, array, version=version)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    j = lambda name: os.path.join(out_dir, name)
    save(j("v1_f32.npy"), (np.arange(6, dtype=np.float32) * 0.5).reshape(2, 3), (1, 0))
    save(j("v2_i64.npy"), np.arange(4, dtype=np.int64) - 2, (2, 0))
    save(j("v3_u8.npy"), np.array([1, 2, 255], dtype=np.uint8), (3, 0))
    save(j("bool.npy"), np.array([[True, False, True]]))
    save(j("f16.npy"), np.array([1.0, -2.0, 0.5], dtype=np.float16))
    save(j("i8.npy"), np.array([-128, 0, 127], dtype=np.int8))
    save(j("i32_scalar.npy"), np.array(7, dtype=np.int32))
    save(j("empty_f32.npy"), np.zeros((0, 4), dtype=np.float32))
    save(j("fortran.npy"), np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
    save(j("f64.npy"), np.ones(3, dtype=np.float64))
    save(j("big_endian.npy"), np.ones(3, dtype=">f4"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
