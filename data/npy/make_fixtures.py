"""Writes the .npy files the tests read, with NumPy itself (the reference writer).

Run from the repository root with Debian's Python:  /usr/bin/python3 data/npy/make_fixtures.py
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
m = np.array([[1.5, -2.0, np.inf], [0.1, 1e-300, 3.0]])


def save(name, array, **kwargs):
    np.save(os.path.join(here, name), array, **kwargs)


save("c_float64.npy", m)                                           # C order
save("fortran_float32.npy", np.asfortranarray(m.astype(np.float32)))
save("vector_float64.npy", np.array([0.25, 0.5, 0.125, 0.125]))    # 1-D
save("big_endian.npy", m.astype(">f8"))
save("complex.npy", m.astype(np.complex128))
save("int64.npy", np.arange(6).reshape(2, 3))
ints = np.array([[-3, 7, 2**31 - 1], [0, -2**31, 5]])                # read as double, exactly
save("int32_fortran.npy", np.asfortranarray(ints.astype(np.int32)))
save("int8.npy", np.array([-128, 0, 127], dtype=np.int8))
save("uint16.npy", np.array([0, 65535, 3], dtype=np.uint16))
save("uint64.npy", np.array([0, 2**53, 1], dtype=np.uint64))
save("bool.npy", np.array([True, False]))                           # refused
save("big_endian_int32.npy", ints.astype(">i4"))                     # refused
save("object.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
save("scalar.npy", np.float64(1.0))
save("three_d.npy", np.zeros((2, 2, 2)))
save("four_d.npy", np.zeros((2, 2, 2, 2)))
stack = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 8 - 1   # (B, n, d), all distinct
save("stack_float64.npy", stack)                                   # a batch of 2 matrices
save("stack_fortran_float32.npy", np.asfortranarray(stack.astype(np.float32)))
print("numpy", np.__version__)
