"""SnapATAC2's side of `gscript bench coverage`: `snap.pp.import_fragments` on the same fragments file.

Usage: python bench/coverage_snapatac2.py --fragments FILE --chrom-sizes FILE.json [--min-fragments N]

Imports into an in-memory AnnData (as gscript holds its insertions in memory), with `sorted_by_barcode=False`
(10x files are sorted by position, so SnapATAC2 sorts them by barcode first), and prints one JSON line: seconds of
the import call, the process's peak resident memory (ru_maxrss, Python and the module included), cells and
fragments kept.
"""

import argparse
import json
import resource
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--fragments", required=True)
    p.add_argument("--chrom-sizes", required=True, help="JSON object name -> length")
    p.add_argument("--min-fragments", type=int, default=200)
    a = p.parse_args()
    import snapatac2 as snap

    with open(a.chrom_sizes) as f:
        sizes = json.load(f)
    t0 = time.perf_counter()
    data = snap.pp.import_fragments(
        a.fragments, chrom_sizes=sizes, sorted_by_barcode=False, min_num_fragments=a.min_fragments
    )
    seconds = time.perf_counter() - t0
    n_fragments = int(data.obs["n_fragment"].sum()) if data.n_obs else 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(json.dumps({
        "version": snap.__version__,
        "seconds": seconds,
        "peak_rss_mib": peak,
        "cells": int(data.n_obs),
        "n_fragment": n_fragments,
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
