"""FIMO (MEME suite, through pymemesuite) on a MEME motif file and a FASTA file, uniform background.

Prints one tab-separated line per hit: motif id, sequence name, 0-based start on the forward strand, strand, score,
p-value. Usage: fimo_scan.py MOTIFS.meme SEQS.fa PSEUDOCOUNT THRESHOLD
"""
import sys

from pymemesuite.common import Background, MotifFile, Sequence
from pymemesuite.fimo import FIMO

meme, fasta, pseudo, threshold = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
seqs, name, buf = [], None, []
for line in open(fasta):
    line = line.strip()
    if line.startswith(">"):
        if name is not None:
            seqs.append(Sequence("".join(buf), name=name.encode()))
        name, buf = line[1:], []
    elif line:
        buf.append(line)
if name is not None:
    seqs.append(Sequence("".join(buf), name=name.encode()))

fimo = FIMO(both_strands=True, threshold=threshold)
for motif in MotifFile(meme, pseudocount=pseudo):
    background = Background.from_uniform(motif.alphabet)
    for m in fimo.score_motif(motif, seqs, background).matched_elements:
        # FIMO reports 1-based closed coordinates, start > stop on the minus strand.
        start = (m.start if m.strand == "+" else m.stop) - 1
        print("\t".join(map(str, [motif.accession.decode(), m.source.accession.decode(), start, m.strand, m.score, m.pvalue])))
