#!/usr/bin/env python3
"""Writes the structured BAM cases of the bad-input corpus: tests/corpus/bam/<name>.bam (the decompressed BAM
stream; the `bam` fuzz target BGZF-compresses it) and <name>.bam.expect (substrings, one per line, that the error
of `load_rna_coverage` with the default options, tag CB, UMI UB, MAPQ >= 30, must contain). Well-formed headers and
records with one fault each; the byte-level cases (bad magic, truncations, huge lengths) were written by hand.
Rerun after editing; it overwrites only the files it names."""
import os, struct, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "corpus", "bam")

def header(refs=(("chr1", 50000),), text="@HD\tVN:1.6\tSO:coordinate\n"):
    t = text.encode()
    out = b"BAM\x01" + struct.pack("<i", len(t)) + t + struct.pack("<i", len(refs))
    for name, length in refs:
        n = name.encode() + b"\x00"
        out += struct.pack("<i", len(n)) + n + struct.pack("<i", length)
    return out

def tag_z(tag, value):
    return tag.encode() + b"Z" + value.encode() + b"\x00"

def tag_f(tag, value):
    return tag.encode() + b"f" + struct.pack("<f", value)

def tag_int_array(tag, values):
    return tag.encode() + b"Bi" + struct.pack("<i", len(values)) + struct.pack(f"<{len(values)}i", *values)

def record(name="r1", ref=0, pos=99, mapq=60, flag=0, cigar=((50, 0),), tags=b""):
    """One alignment: `pos` 0-based, `cigar` as (length, op) with op 0 = M, sequence of A and qualities 30."""
    n = name.encode() + b"\x00"
    l_seq = sum(length for length, op in cigar if op in (0, 1, 4, 7, 8))
    body = struct.pack("<iiBBHHHi", ref, pos, len(n), mapq, 4680, len(cigar), flag, l_seq)
    body += struct.pack("<iii", -1, -1, 0) + n
    body += b"".join(struct.pack("<I", (length << 4) | op) for length, op in cigar)
    body += bytes([0x11] * ((l_seq + 1) // 2)) + bytes([30] * l_seq) + tags
    return struct.pack("<i", len(body)) + body

GOOD_TAGS = tag_z("CB", "AAACCCAAGAAACACT-1") + tag_z("UB", "ACGTACGTACGT")

CASES = [
    ("no-records", header(), ["x.bam", "the BAM has no records", "CB"]),
    ("no-cell-tag", header() + record("r1", tags=tag_z("UB", "ACGT")) + record("r2", pos=120, tags=tag_z("UB", "ACGT")),
     ["x.bam", "none of 2 records carries the cell barcode tag CB", "UB"]),
    ("float-cell-tag", header() + record("r1", tags=tag_f("CB", 1.5)), ["x.bam", "record 1 (read r1)", "tag CB is"]),
    ("array-umi-tag", header() + record("r1", tags=tag_z("CB", "AAAC-1") + tag_int_array("UB", [1, 2])),
     ["x.bam", "record 1 (read r1)", "UMI tag UB is"]),
    ("reference-out-of-range", header() + record("r1", ref=3, tags=GOOD_TAGS),
     ["x.bam", "record 1 (read r1)", "reference sequence 3 is not in the header (1 sequences)"]),
    ("unsorted", header() + record("r1", pos=500, tags=GOOD_TAGS) + record("r2", pos=100, tags=GOOD_TAGS),
     ["x.bam", "record 2 (read r2)", "sorted by coordinate", "chr1:101 after a read at 501"]),
    ("all-unmapped", header() + record("r1", flag=4, tags=GOOD_TAGS) + record("r2", flag=4, pos=120, tags=GOOD_TAGS),
     ["x.bam", "no read passed the filters", "2 unmapped"]),
    ("chromosome-again", header(refs=(("chr1", 50000), ("chr2", 50000)))
     + record("r1", ref=0, tags=GOOD_TAGS) + record("r2", ref=1, tags=GOOD_TAGS) + record("r3", ref=0, pos=900, tags=GOOD_TAGS),
     ["x.bam", "record 3 (read r3)", "chr1 comes again after other chromosomes"]),
]

def main():
    os.makedirs(ROOT, exist_ok=True)
    for name, content, expect in CASES:
        p = os.path.join(ROOT, f"{name}.bam")
        with open(p, "wb") as f:
            f.write(content)
        with open(p + ".expect", "w") as f:
            f.write("\n".join(expect) + "\n")
    print(f"{len(CASES)} bad BAM inputs written", file=sys.stderr)

if __name__ == "__main__":
    main()
