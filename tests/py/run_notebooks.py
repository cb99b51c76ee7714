"""Executes every notebook in examples/ headlessly with nbclient against the gscript kernel.

Run by tests/kernel.rs with JUPYTER_PATH pointing at a freshly installed kernelspec (kernel name in
GSCRIPT_KERNEL_NAME) and GSCRIPT_NOTEBOOK_OUT naming a folder for the executed notebooks and their files.
Fails when a cell errors or any output is an error; for the quickstart, also when its figures are not inline as PNG
(decoded, PNG magic, width and height from the IHDR chunk) and SVG.
"""
import base64
import glob
import os
import struct
import sys
import time

import nbformat
from nbclient import NotebookClient

NAME = os.environ.get("GSCRIPT_KERNEL_NAME", "gscript")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.environ["GSCRIPT_NOTEBOOK_OUT"]


def outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.outputs


def main():
    failed = False
    paths = sorted(glob.glob(os.path.join(ROOT, "examples", "*.ipynb")))
    if not paths:
        print("no notebooks in examples/")
        sys.exit(1)
    for path in paths:
        name = os.path.basename(path)
        nb = nbformat.read(path, as_version=4)
        workdir = os.path.join(OUT, name.removesuffix(".ipynb"))
        os.makedirs(workdir, exist_ok=True)
        t0 = time.time()
        client = NotebookClient(nb, kernel_name=NAME, timeout=600, resources={"metadata": {"path": workdir}})
        try:
            client.execute()
        except Exception as e:  # CellExecutionError names the cell and the traceback
            print(f"FAIL {name}: {e}")
            failed = True
            continue
        finally:
            nbformat.write(nb, os.path.join(workdir, name))
        errors = [o for o in outputs(nb) if o.output_type == "error"]
        pngs, svgs = [], []
        for o in outputs(nb):
            data = o.get("data", {})
            if "image/png" in data:
                raw = base64.b64decode(data["image/png"])
                ok = raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
                w, h = struct.unpack(">II", raw[16:24]) if ok else (0, 0)
                pngs.append((ok, w, h, len(raw)))
            if "image/svg+xml" in data:
                svgs.append(data["image/svg+xml"])
        print(f"{name}: {len(nb.cells)} cells in {time.time() - t0:.1f} s, {len(pngs)} PNG and {len(svgs)} SVG figures, {len(errors)} errors")
        if errors:
            failed = True
            for e in errors:
                print("  error:", e.get("ename"), e.get("evalue"))
        if name == "quickstart.ipynb":
            bad = [p for p in pngs if not (p[0] and p[1] >= 200 and p[2] >= 150 and p[3] > 5000)]
            if len(pngs) < 4 or bad:
                print(f"FAIL {name}: expected at least 4 PNG figures of at least 200×150 px, got {pngs}")
                failed = True
            if len(svgs) < 4 or not all("<svg" in s[:500] for s in svgs):
                print(f"FAIL {name}: expected at least 4 inline SVG figures")
                failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
