#!/usr/bin/env python3
"""Writes the fuzz_solve input that decodes to the problem given as key=value arguments.

Example (a balanced 2 x 2 problem whose budget runs out during epsilon scaling):
  tests/fuzz/solve_input.py cost='0,1;1,0' a=.5,.5 b=.5,.5 epsilon=1e-6 rho_a=inf rho_b=inf \
      max_iterations=3 scaling=1 initial_epsilon=1 > input

Keys (defaults in brackets): precision=double|float [double], cost (rows split by ';', entries
by ','), a, b [uniform, mass 1], epsilon [1], rho_a, rho_b [inf], max_iterations [50],
check_every [10], tolerance [0], scaling=0|1 [0], initial_epsilon [0], factor [0.5],
iterations_per_stage [2], initial_f, initial_g [none]. Numbers may be inf, -inf or nan.
It mirrors decode() in fuzz_solve.cpp, which reads FuzzedDataProvider integers from the end
of the input: change both together.
"""
import struct
import sys


def main(argv):
    args = dict(arg.split("=", 1) for arg in argv)
    numbers = lambda text: [float(v) for v in text.split(",")]
    cost = [numbers(row) for row in args["cost"].split(";")]
    n, m = len(cost), len(cost[0])
    consumed = []  # in the order decode() consumes them

    def byte(value):
        consumed.append(value)

    def uint64(value):
        consumed.extend(value.to_bytes(8, "big"))  # the first byte consumed is the most significant

    def value(x):
        byte(2)  # any_value(): the bit-pattern case
        uint64(struct.unpack("<Q", struct.pack("<d", x))[0])

    def optional(key, write):
        byte(key in args)
        if key in args:
            write(args[key])

    byte(args.get("precision", "double") == "float")
    byte(n - 1)
    byte(m - 1)
    for row in cost:
        assert len(row) == m, "every cost row needs the same length"
        for c in row:
            value(c)
    for key, size in (("a", n), ("b", m)):
        weights = numbers(args[key]) if key in args else [1 / size] * size
        assert len(weights) == size, f"{key} needs {size} entries"
        for w in weights:
            value(w)
    byte(0)  # keep b as given
    for key, default in (("epsilon", "1"), ("rho_a", "inf"), ("rho_b", "inf")):
        value(float(args.get(key, default)))
    byte(int(args.get("max_iterations", 50)) - 1)
    byte(int(args.get("check_every", 10)) - 1)
    optional("tolerance", lambda v: value(float(v)))
    byte(int(args.get("scaling", 0)))
    optional("initial_epsilon", lambda v: value(float(v)))
    optional("factor", lambda v: uint64(round(float(v) * (2**64 - 1))))
    byte(int(args.get("iterations_per_stage", 2)) - 1)
    optional("initial_f", lambda v: [value(x) for x in numbers(v)])
    optional("initial_g", lambda v: [value(x) for x in numbers(v)])
    sys.stdout.buffer.write(bytes(reversed(consumed)))


if __name__ == "__main__":
    main(sys.argv[1:])
