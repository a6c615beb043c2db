"""Benchmark: what verifying a dataset's stacks costs (issue #25 item 3).

Training and evaluation recompute the sha256 of every stack's pixels before they start
(:func:`lacbed_bridge.dataset.integrity.verify_dataset`). This writes a stack of N × side² float32
images as the dataset stage does (contiguous TIFF), then times, in one run and alternating:

* ``verify``: the pixel checksum through the memory map (what train/evaluate add);
* ``read``: reading the same stack once into memory (what one training epoch reads at least).

It prints both, their ratio, the checksum's speed in MB/s, and the cost scaled to the paper's
dataset (3 stacks of 5 000 × 128²). The LAST line is one JSON object.
Usage: python benchmarks/dataset_integrity.py [--quick] [--n 5000] [--side 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from lacbed_bridge import __version__
from lacbed_bridge.dataset.integrity import stack_pixel_sha256

PAPER_BYTES = 3 * 5000 * 128 * 128 * 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 1 000-image stack, 2 repeats")
    parser.add_argument("--n", type=int, default=5000, help="images in the stack")
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, repeats = (1000, 2) if args.quick else (args.n, args.repeats)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lacbed.tif"
        tifffile.imwrite(path, rng.random((n, args.side, args.side), dtype=np.float32), contiguous=True, metadata=None)
        size = path.stat().st_size
        verify, read = [], []
        for _ in range(repeats):  # alternating, so that both see the same machine state
            start = time.perf_counter()
            stack_pixel_sha256(path)
            verify.append(time.perf_counter() - start)
            start = time.perf_counter()
            np.asarray(tifffile.imread(path)).sum()
            read.append(time.perf_counter() - start)
    t_verify, t_read = float(np.median(verify)), float(np.median(read))
    rate = size / t_verify / 1e6
    paper_s = PAPER_BYTES / (rate * 1e6)
    print(f"stack {n} × {args.side}² float32 ({size / 1e6:.0f} MB): verify {t_verify:.3f} s, read {t_read:.3f} s "
          f"(verify/read {t_verify / t_read:.2f}); checksum {rate:.0f} MB/s")
    print(f"paper-scale dataset (3 × 5 000 × 128², {PAPER_BYTES / 1e9:.2f} GB): about {paper_s:.1f} s per train/evaluate job")
    print(json.dumps({"benchmark": "dataset_integrity", "version": __version__, "machine": platform.machine(),
                      "n": n, "side": args.side, "bytes": size, "verify_s": t_verify, "read_s": t_read,
                      "verify_over_read": t_verify / t_read, "checksum_mb_per_s": rate, "paper_dataset_s": paper_s}))


if __name__ == "__main__":
    main()
