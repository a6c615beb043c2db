"""Benchmark: seconds per 1 000 variant CIFs generated and written (crystal/variants.py).

For three prototypes of different size (zincblende 2 sites / 96 symops, perovskite 3 / 48,
spinel 3 / 192) it times generate_family (sampling + charge model) and write_family (sampling,
CIF text and atomic writes of every CIF + variants.csv) and scales to 1 000 crystals.
Prints the figures, then as the LAST line one JSON object.
Usage: python benchmarks/variants.py [--quick] [--device cpu] [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from lacbed_bridge import __version__
from lacbed_bridge.crystal.variants import generate_family, write_family

MASTER_SEED = 20261126
PROTOTYPES = ("zincblende", "perovskite", "spinel")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 crystals per prototype, scaled to 1 000 (≤ 60 s)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="pure Python/NumPy: cpu only")
    parser.add_argument("--n", type=int, default=1000, help="crystals per prototype (default 1000)")
    args = parser.parse_args()
    if args.device == "cuda":
        print("note: variant generation is CPU code; timing the CPU path")
    n = 200 if args.quick else args.n
    figures: dict[str, object] = {"n_per_prototype": n, "quick": args.quick}
    total_write = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for key in PROTOTYPES:
            family = {"name": f"bench_{key}", "prototype": key, "n_variants": n, "kappa": [0.95, 1.05]}
            generate_family(dict(family, n_variants=5), MASTER_SEED)  # warm-up (imports, prototype file)
            start = time.perf_counter()
            generate_family(family, MASTER_SEED)
            gen_s = time.perf_counter() - start
            config = {"seed": MASTER_SEED, "families": [family]}
            out = Path(tmp) / key
            start = time.perf_counter()
            write_family(config, family["name"], out)
            write_s = time.perf_counter() - start
            size = sum(p.stat().st_size for p in out.glob("*.cif")) / n
            per_1000_gen = gen_s * 1000 / n
            per_1000_write = write_s * 1000 / n
            total_write += per_1000_write
            figures[f"{key}_generate_s_per_1000"] = round(per_1000_gen, 4)
            figures[f"{key}_generate_and_write_s_per_1000"] = round(per_1000_write, 4)
            figures[f"{key}_cif_bytes"] = round(size)
            print(
                f"{key:11s} generate {per_1000_gen:7.3f} s/1000, generate+write {per_1000_write:7.3f} s/1000, "
                f"{size / 1024:.1f} KiB per CIF"
            )
    figures["mean_generate_and_write_s_per_1000"] = round(total_write / len(PROTOTYPES), 4)
    figures.update(version=__version__, python=platform.python_version(), machine=platform.machine(), device="cpu")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
