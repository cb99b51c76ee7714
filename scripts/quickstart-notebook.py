#!/usr/bin/env python3
"""Writes examples/quickstart.ipynb from examples/quickstart.gscript, so the notebook and the script cannot drift.

The script's numbered sections (`// 1. ...` comment blocks) become markdown cells and the code under each becomes
a code cell; the opening comment becomes the title cell. tests/examples.rs checks that the notebook's code equals
the script's. Run it after editing the script:  python3 scripts/quickstart-notebook.py
"""
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "quickstart.gscript")
NOTEBOOK = os.path.join(ROOT, "examples", "quickstart.ipynb")

INTRO = """# gscript quickstart

The whole scBasset workflow on a simulated 10x-like dataset with planted truth (4 cell types, each opening the peaks
that carry one real JASPAR motif): train scBasset, embed and cluster the cells, denoise, score TF activity for every
shipped JASPAR motif, run ISM on a planted enhancer, score a variant and fine-tune onto a second batch with LoRA.
With the tiny model preset it runs in about a minute on 2 CPU cores. The same cells run on your own data: set
`data` and `genome` in the first cell. Figures appear inline; files go to the notebook's folder (`out_path`).
"""


def cells_of(text):
    lines = text.splitlines()
    # drop the opening comment (the notebook has its own intro)
    i = 0
    while i < len(lines) and (lines[i].startswith("//") or not lines[i].strip()):
        i += 1
    cells, comment, code = [], [], []

    def flush_code():
        body = "\n".join(code).strip("\n")
        if body:
            cells.append(("code", body))
        code.clear()

    for line in lines[i:]:
        m = re.match(r"^// (\d+)\. (.*)", line)
        if m:
            flush_code()
            comment[:] = [f"## {m.group(1)}. {m.group(2)}"]
            continue
        if comment and line.startswith("//"):
            comment.append(line[2:].strip())
            continue
        if comment:
            # "## N. Title: what it does" → a heading and a paragraph
            text = " ".join([comment[0]] + comment[1:])
            title, _, body = text.partition(": ")
            cells.append(("markdown", f"{title}\n\n{body[0].upper() + body[1:]}" if body else title))
            comment.clear()
        code.append(line)
    flush_code()
    return cells


def source(text):
    return text.splitlines(keepends=True)


def main():
    with open(SCRIPT, encoding="utf-8") as f:
        script = f.read()
    nb_cells = [{"cell_type": "markdown", "id": "intro", "metadata": {}, "source": source(INTRO.strip())}]
    for k, (kind, text) in enumerate(cells_of(script)):
        cell = {"cell_type": kind, "id": f"cell-{k:02d}", "metadata": {}, "source": source(text)}
        if kind == "code":
            cell.update({"execution_count": None, "outputs": []})
        nb_cells.append(cell)
    nb = {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"name": "gscript", "display_name": "gscript", "language": "gscript"},
            "language_info": {"name": "gscript", "file_extension": ".gscript", "mimetype": "text/x-gscript",
                              "codemirror_mode": "rust", "pygments_lexer": "rust"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    with open(NOTEBOOK, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {NOTEBOOK} ({len(nb_cells)} cells)")


if __name__ == "__main__":
    main()
