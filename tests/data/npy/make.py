# tests/data/npy/make.py — writes the NumPy-made .npy files that tests/test_npy.c reads, so
# nabla's reader is checked against real NumPy output and not only against its own writer.
# Run once with Debian's interpreter (numpy only, deterministic): /usr/bin/python3 make.py
import os

import numpy as np
from numpy.lib import format as npf

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, array, version=None):
    path = os.path.join(HERE, name)
    if version is None:
        np.save(path, array, allow_pickle=False)  # numpy's default: version 1.0
    else:
        with open(path, "wb") as f:
            npf.write_array(f, array, version=version, allow_pickle=False)


# Values that a reader which converts through the wrong width or order would change:
# 0.1 is inexact in both widths, -0.0 keeps its sign bit, 5e-324 is the smallest subnormal.
save("f4_2x3.npy", np.array([[-1.5, 0.1, 2.0], [3.25, -0.0, 1e-30]], dtype="<f4"))
save("f8_5.npy", np.array([0.1, -2.5, 1e300, 5e-324, -0.0], dtype="<f8"))
save("f8_scalar.npy", np.array(np.pi, dtype="<f8"))
save("f4_0x3.npy", np.zeros((0, 3), dtype="<f4"))
save("f8_2x1x3x2.npy", np.arange(12, dtype="<f8").reshape(2, 1, 3, 2) / 8 - 0.75)
save("f8_v2.npy", np.array([[1.0, -2.0], [0.5, 1e-3]], dtype="<f8"), version=(2, 0))
save("f4_v3.npy", np.array([7.0, -0.25, 3.0], dtype="<f4"), version=(3, 0))
save("nan_f4.npy", np.array([1.0, np.nan, np.inf, -np.inf], dtype="<f4"))
# Rejected by nabla: column-major order, an integer dtype, big-endian floats.
save("fortran_2x3.npy", np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)))
save("i8_3.npy", np.array([1, 2, 3], dtype="<i8"))
save("be_f8_3.npy", np.array([1.0, 2.0, 3.0], dtype=">f8"))
