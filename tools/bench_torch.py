#!/usr/bin/env python3
"""eot's attention kernels against PyTorch on the CPU, side by side in one run, same shapes.

Shapes: batch 1, H heads, L queries and L keys, head dimension d, float32, no mask. PyTorch
runs in this process: torch.nn.functional.scaled_dot_product_attention when this torch has it
(2.0 and later), otherwise the same math written out, softmax(q k^T / sqrt(d)) v (what SDPA
does on the CPU); the output says which. "forward" runs without autograd; "fwd+bwd" is a
forward with autograd and out.backward(g). eot runs as `EOT_BINARY bench-attention --json`
(forward_batched, then backward_batched given the forward's output and log-sum-exp); its
fwd+bwd is the sum of the two. Every figure is the best of --repeats runs after one untimed
warm-up run (PyTorch's first calls are up to 1.5x slower).

OpenBLAS (Debian's torch uses it for its matrix products) may not recognize a virtual CPU and
fall back to its slowest kernels; by default this script names the core type from the CPU
flags (OPENBLAS_CORETYPE: SkylakeX with AVX-512, Haswell with AVX2) so that PyTorch gets its
best GEMM. --openblas-coretype default keeps OpenBLAS's own choice.

Usage: tools/bench_torch.py EOT_BINARY [--lengths 1024 4096] [--heads 8] [--d 64]
                            [--threads 2] [--repeats 3] [--openblas-coretype auto]
Needs Debian's python3-torch for the PyTorch columns (skipped, with a note, without it).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose_coretype(requested):
    """OPENBLAS_CORETYPE to set before torch loads OpenBLAS, or None to leave it alone."""
    if requested == "default" or "OPENBLAS_CORETYPE" in os.environ:
        return None
    if requested != "auto":
        return requested
    flags = cpu_flags()
    if "avx512f" in flags:
        return "SkylakeX"
    if "avx2" in flags:
        return "Haswell"
    return None


def best_seconds(repeats, f):
    """The best of `repeats` timings of f(), after one untimed run (allocator, thread pools)."""
    f()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - start)
    return best


def run_torch(torch, lengths, heads, d, repeats):
    """{L: (forward s, fwd+bwd s)} and the name of the attention used."""
    functional = torch.nn.functional
    if hasattr(functional, "scaled_dot_product_attention"):
        attention, name = functional.scaled_dot_product_attention, "scaled_dot_product_attention"
    else:
        scale = 1 / math.sqrt(d)

        def attention(q, k, v):
            return torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1) @ v

        name = "softmax(q k^T / sqrt(d)) v (this torch has no scaled_dot_product_attention)"
    results = {}
    for length in lengths:
        torch.manual_seed(0)
        q, k, v, g = (torch.randn(1, heads, length, d) for _ in range(4))
        with torch.no_grad():
            forward = best_seconds(repeats, lambda: attention(q, k, v))
        qg, kg, vg = (x.clone().requires_grad_() for x in (q, k, v))

        def step():
            qg.grad = kg.grad = vg.grad = None
            attention(qg, kg, vg).backward(g)

        results[length] = (forward, best_seconds(repeats, step))
    return results, name


def run_eot(binary, lengths, heads, d, threads, repeats):
    command = [binary, "bench-attention", "--json", "--lengths", *map(str, lengths),
               "--heads", str(heads), "--d", str(d), "--threads", str(threads),
               "--repeats", str(repeats)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"eot failed ({out.returncode}): {out.stderr.strip()}")
    report = json.loads(out.stdout)
    return {r["length"]: (r["forward_ms"] / 1e3, r["backward_ms"] / 1e3)
            for r in report["results"]}, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("eot_binary", help="the eot command line (a native Release build)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--openblas-coretype", default="auto",
                        help="auto (from the CPU flags), default (OpenBLAS's detection) or a "
                             "core name such as SkylakeX")
    args = parser.parse_args()

    coretype = choose_coretype(args.openblas_coretype)
    if coretype:
        os.environ["OPENBLAS_CORETYPE"] = coretype
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    try:
        import torch  # after the environment above: OpenBLAS reads it when it loads
    except ImportError:
        torch = None

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if torch is None:
        print("PyTorch is not installed for this Python (Debian: apt-get install python3-torch, "
              "then run with /usr/bin/python3): eot only")
        torch_results, name = {}, None
    else:
        torch.set_num_threads(args.threads)
        torch_results, name = run_torch(torch, args.lengths, args.heads, args.d, args.repeats)
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(OpenBLAS detects)')}: "
              f"{name}")
    eot_results, report = run_eot(args.eot_binary, args.lengths, args.heads, args.d, args.threads,
                                  args.repeats)
    print(f"eot {report['version']}, {args.threads} threads, SIMD: {report['simd']}")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    print(f"\nfloat32, {args.heads} heads, d = {args.d}, batch 1, no mask; best of {args.repeats}; "
          "ms; speedup = PyTorch / eot")
    header = (f"{'L':>6} {'torch fwd':>10} {'eot fwd':>9} {'speedup':>8}   {'torch f+b':>10} "
              f"{'eot f+b':>9} {'speedup':>8}   {'eot bwd':>9} {'eot GFLOP/s':>11}")
    print(header)
    for length in args.lengths:
        eot_forward, eot_backward = eot_results[length]
        eot_both = eot_forward + eot_backward
        gflops = 4 * length * length * args.d * args.heads / eot_forward / 1e9
        if length in torch_results:
            torch_forward, torch_both = torch_results[length]
            torch_part = (f"{torch_forward * 1e3:10.1f} {eot_forward * 1e3:9.1f} "
                          f"{torch_forward / eot_forward:7.2f}x   {torch_both * 1e3:10.1f} "
                          f"{eot_both * 1e3:9.1f} {torch_both / eot_both:7.2f}x")
        else:
            torch_part = (f"{'-':>10} {eot_forward * 1e3:9.1f} {'-':>8}   {'-':>10} "
                          f"{eot_both * 1e3:9.1f} {'-':>8}")
        print(f"{length:6d} {torch_part}   {eot_backward * 1e3:9.1f} {gflops:11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
