#!/usr/bin/env python3
"""Writes the bad-input corpus: tests/corpus/<format>/<name>.<ext> and <name>.<ext>.expect (substrings, one per
line, that the error message must contain: the file, line or field at fault). Rerun after editing; it overwrites
only the files it names."""
import os, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "corpus")
MEME_HEAD = "MEME version 4\n\nALPHABET= ACGT\n\n"
ROW = " 0.25 0.25 0.25 0.25\n"
HOMER_HEAD = ">AAAA\tname\t5.0\n"
VCF_HEAD = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
MTX_HEAD = "%%MatrixMarket matrix coordinate integer general\n"
GTF_OK = 'chr1\tsim\tgene\t100\t900\t.\t+\t.\tgene_id "g1"; gene_name "G1"; gene_type "protein_coding";\n'
TARGETS_HEAD = "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n"
SEP = "\x1e"
def wire(*frames):
    return SEP.join(frames)
H = '{"msg_type":"execute_request","msg_id":"1"}'

CASES = {
  "meme": ("meme", [
    ("empty", "", ["fuzz.meme"]),
    ("no-version", "ALPHABET= ACGT\nMOTIF a\n", ["fuzz.meme"]),
    ("bad-alength", MEME_HEAD + "MOTIF a\nletter-probability matrix: alength= 5 w= 1\n" + ROW, ["fuzz.meme:6", "alength"]),
    ("short-row", MEME_HEAD + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n 0.5 0.5 0.0\n", ["fuzz.meme:7"]),
    ("nan-row", MEME_HEAD + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n nan 0.25 0.25 0.25\n", ["fuzz.meme:7"]),
    ("neg-prob", MEME_HEAD + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n -0.5 0.5 0.5 0.5\n", ["fuzz.meme:7"]),
    ("sum-not-one", MEME_HEAD + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n 0.5 0.5 0.5 0.5\n", ["fuzz.meme:7"]),
    ("w-mismatch", MEME_HEAD + "MOTIF a\nletter-probability matrix: alength= 4 w= 3\n" + ROW, ["fuzz.meme", "a"]),
    ("motif-no-name", MEME_HEAD + "MOTIF\nletter-probability matrix: alength= 4 w= 1\n" + ROW, ["fuzz.meme:5"]),
    ("inf-row", MEME_HEAD + "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n inf 0 0 0\n", ["fuzz.meme:7"]),
    ("binary", "\x00\x01\x02MEME", ["fuzz.meme"]),
    ("bad-alphabet", "MEME version 4\n\nALPHABET= ACGU\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n" + ROW, ["fuzz.meme:3", "ALPHABET"]),
  ]),
  "jaspar": ("jaspar", [
    ("bad-letter", ">m a\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\nU [ 1 2 ]\n", ["fuzz.jaspar:5"]),
    ("five-rows", ">m a\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\nT [ 1 2 ]\nN [ 1 2 ]\n", ["fuzz.jaspar:6"]),
    ("empty", "", ["fuzz.jaspar"]),
    ("no-header", "A [ 1 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", ["fuzz.jaspar:1"]),
    ("three-rows", ">m a\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\n", ["fuzz.jaspar", "m"]),
    ("ragged", ">m a\nA [ 1 2 ]\nC [ 1 2 3 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", ["fuzz.jaspar:3"]),
    ("letters", ">m a\nA [ 1 x ]\nC [ 1 2 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", ["fuzz.jaspar:2"]),
    ("negative", ">m a\nA [ -1 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", ["fuzz.jaspar:2"]),
    ("nan", ">m a\nA [ nan 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", ["fuzz.jaspar:2"]),
    ("inf", ">m a\nA [ inf 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", ["fuzz.jaspar:2"]),

    ("dup-letter", ">m a\nA [ 1 2 ]\nA [ 1 2 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", ["fuzz.jaspar:3"]),

    ("header-only", ">m a\n", ["fuzz.jaspar", "m"]),
  ]),
  "homer": ("motif", [
    ("empty", "", ["fuzz.motif"]),
    ("no-header", "0.25\t0.25\t0.25\t0.25\n", ["fuzz.motif:1"]),
    ("three-cols", HOMER_HEAD + "0.5\t0.25\t0.25\n", ["fuzz.motif:2"]),
    ("text-value", HOMER_HEAD + "0.5\tx\t0.25\t0.25\n", ["fuzz.motif:2"]),
    ("negative", HOMER_HEAD + "-0.5\t0.5\t0.5\t0.5\n", ["fuzz.motif:2"]),
    ("nan", HOMER_HEAD + "nan\t0.25\t0.25\t0.25\n", ["fuzz.motif:2"]),
    ("inf", HOMER_HEAD + "inf\t0.25\t0.25\t0.25\n", ["fuzz.motif:2"]),
    ("sum-two", HOMER_HEAD + "0.5\t0.5\t0.5\t0.5\n", ["fuzz.motif:2"]),
    ("header-only", HOMER_HEAD, ["fuzz.motif"]),
    ("five-cols", HOMER_HEAD + "0.2\t0.2\t0.2\t0.2\t0.2\n", ["fuzz.motif:2"]),
    ("zero-row", HOMER_HEAD + "0\t0\t0\t0\n", ["fuzz.motif:2"]),
  ]),
  "bed": ("bed", [
    ("huge-start", "chr1\t18446744073709551616\t1\n", ["fuzz.bed:1"]),
    ("two-fields", "chr1\t100\n", ["fuzz.bed:1"]),
    ("start-text", "chr1\tx\t200\n", ["fuzz.bed:1"]),
    ("end-text", "chr1\t100\ty\n", ["fuzz.bed:1"]),
    ("end-before-start", "chr1\t200\t100\n", ["fuzz.bed:1"]),
    ("negative-start", "chr1\t-5\t100\n", ["fuzz.bed:1"]),

    ("second-line", "chr1\t1\t2\nchr1\t5\n", ["fuzz.bed:2"]),
    ("overflow", "chr1\t1\t99999999999999999999999\n", ["fuzz.bed:1"]),
    ("float-start", "chr1\t1.5\t20\n", ["fuzz.bed:1"]),
    ("binary", "chr1\t1\t2\n\x00\xff\xfe\n", ["fuzz.bed:2"]),
    ("empty", "", ["fuzz.bed"]),
    ("comments-only", "# nothing\ntrack name=x\n", ["fuzz.bed"]),
  ]),
  "fasta": ("fa", [
    ("empty", "", ["g.fa"]),
    ("no-header", "ACGT\n", ["g.fa:1"]),
    ("nameless", ">\nACGT\n", ["g.fa:1"]),
    ("duplicate", ">a\nAC\n>a\nGT\n", ["g.fa:3", "twice"]),
    ("digit", ">a\nAC1T\n", ["g.fa:2"]),
    ("space", ">a\nAC T\n", ["g.fa:2"]),
    ("longer-line", ">a\nACGT\nACGTA\n", ["g.fa:3"]),
    ("ragged", ">a\nACGT\nAC\nACGT\n", ["g.fa:3"]),
    ("blank-inside", ">a\nACGT\n\nACGT\n", ["g.fa:3"]),
    ("gzip", "\x1f\x8b\x08\x00rest", ["g.fa", "compressed"]),
    ("binary", ">a\nAC\x00T\n", ["g.fa:2"]),
  ]),
  "fai": ("fai", [
    ("few-fields", "chr1\t100\t6\n", ["g.fa.fai:1"]),
    ("length-text", "chr1\tx\t6\t60\t61\n", ["g.fa.fai:1", "field 2"]),
    ("offset-text", "chr1\t100\tx\t60\t61\n", ["g.fa.fai:1", "field 3"]),
    ("zero-bases", "chr1\t100\t6\t0\t1\n", ["g.fa.fai:1"]),
    ("width-lt-bases", "chr1\t100\t6\t60\t50\n", ["g.fa.fai:1"]),
    ("negative", "chr1\t-1\t6\t60\t61\n", ["g.fa.fai:1"]),
    ("second-line", "chr1\t10\t6\t60\t61\nchr2\t10\n", ["g.fa.fai:2"]),
    ("offset-past-end", "chr1\t100\t999999999\t60\t61\n", ["does not match the FASTA", "chr1"]),
    ("huge-width", "chr1\t100\t6\t60\t9223372036854775807\n", ["does not match the FASTA", "chr1"]),
    ("overflow", "chr1\t18446744073709551616\t6\t60\t61\n", ["g.fa.fai:1", "field 2"]),
  ]),
  "vcf": ("vcf", [
    ("alt-bad", VCF_HEAD + "chr1\t10\t.\tA\tG%\n", ["fuzz.vcf:3"]),
    ("pos-float", VCF_HEAD + "chr1\t1.5\t.\tA\tG\n", ["fuzz.vcf:3", "position"]),


    ("short-header", "#CHROM\tPOS\n", ["fuzz.vcf:1"]),
    ("few-fields", VCF_HEAD + "chr1\t100\t.\tA\n", ["fuzz.vcf:3"]),
    ("pos-text", VCF_HEAD + "chr1\tx\t.\tA\tG\n", ["fuzz.vcf:3", "position"]),
    ("pos-zero", VCF_HEAD + "chr1\t0\t.\tA\tG\n", ["fuzz.vcf:3", "position"]),
    ("pos-negative", VCF_HEAD + "chr1\t-3\t.\tA\tG\n", ["fuzz.vcf:3", "position"]),
    ("ref-bad", VCF_HEAD + "chr1\t10\t.\tA1\tG\n", ["fuzz.vcf:3", "REF"]),
    ("ref-empty", VCF_HEAD + "chr1\t10\t.\t\tG\n", ["fuzz.vcf:3", "REF"]),
    ("chrom-empty", VCF_HEAD + "\t10\t.\tA\tG\n", ["fuzz.vcf:3"]),
    ("pos-overflow", VCF_HEAD + "chr1\t99999999999999999999999\t.\tA\tG\n", ["fuzz.vcf:3", "position"]),
  ]),
  "variant": ("txt", [
    ("two-parts", "chr1:100\n", ["variant", "chrom:pos:ref:alt"]),

    ("three-parts", "chr1:100:A\n", ["variant", "chrom:pos:ref:alt"]),
    ("pos-text", "chr1:x:A:G\n", ["variant", "position"]),
    ("pos-zero", "chr1:0:A:G\n", ["variant", "position"]),
    ("pos-negative", "chr1:-1:A:G\n", ["variant", "position"]),
    ("ref-empty", "chr1:10::G\n", ["variant", "REF"]),
    ("alt-empty", "chr1:10:A:\n", ["variant", "ALT"]),
    ("ref-digits", "chr1:10:12:G\n", ["variant", "REF"]),
    ("chrom-empty", ":10:A:G\n", ["variant", "chromosome"]),
    ("overflow", "chr1:99999999999999999999999:A:G\n", ["variant", "position"]),
    ("alt-symbol", "chr1:10:A:G%\n", ["variant", "ALT"]),
  ]),
  "mtx": ("mtx", [
    ("empty", "", ["fuzz.mtx", "empty"]),
    ("no-banner", "3 2 1\n1 1 1\n", ["fuzz.mtx:1"]),
    ("array", "%%MatrixMarket matrix array real general\n2 2\n", ["fuzz.mtx:1", "coordinate"]),
    ("symmetric", "%%MatrixMarket matrix coordinate real symmetric\n2 2 1\n1 1 1\n", ["fuzz.mtx:1", "symmetric"]),
    ("size-two", MTX_HEAD + "3 2\n", ["fuzz.mtx:2"]),
    ("size-text", MTX_HEAD + "3 x 1\n", ["fuzz.mtx:2", "size field 2"]),
    ("row-zero", MTX_HEAD + "3 2 1\n0 1 1\n", ["fuzz.mtx:3", "row"]),
    ("col-past", MTX_HEAD + "3 2 1\n1 3 1\n", ["fuzz.mtx:3", "column"]),
    ("value-text", MTX_HEAD + "3 2 1\n1 1 abc\n", ["fuzz.mtx:3", "value"]),
    ("value-nan", MTX_HEAD + "3 2 1\n1 1 nan\n", ["fuzz.mtx:3", "finite"]),
    ("value-inf", MTX_HEAD + "3 2 1\n1 1 inf\n", ["fuzz.mtx:3", "finite"]),
    ("too-many", MTX_HEAD + "3 2 1\n1 1 1\n2 2 1\n", ["fuzz.mtx:4", "more entries"]),
    ("truncated", MTX_HEAD + "3 2 3\n1 1 1\n", ["fuzz.mtx", "3 entries"]),
    ("huge-dims", MTX_HEAD + "99999999999 2 1\n1 1 1\n", ["fuzz.mtx:2"]),
  ]),
  "gtf": ("gtf", [
    ("few-fields", "chr1\tsim\tgene\t100\n", ["fuzz.gtf:1"]),
    ("start-text", 'chr1\tsim\tgene\tx\t900\t.\t+\t.\tgene_id "g1";\n', ["fuzz.gtf:1"]),
    ("end-text", 'chr1\tsim\tgene\t100\ty\t.\t+\t.\tgene_id "g1";\n', ["fuzz.gtf:1"]),
    ("start-zero", 'chr1\tsim\tgene\t0\t900\t.\t+\t.\tgene_id "g1";\n', ["fuzz.gtf:1"]),
    ("bad-strand", 'chr1\tsim\tgene\t100\t900\t.\t*\t.\tgene_id "g1";\n', ["fuzz.gtf:1"]),
    ("bad-attributes", 'chr1\tsim\tgene\t100\t900\t.\t+\t.\tgene_id "g1\n', ["fuzz.gtf:1"]),
    ("no-gene-id", 'chr1\tsim\tgene\t100\t900\t.\t+\t.\tgene_name "G1";\n', ["fuzz.gtf:1", "gene_id"]),
    ("second-line", GTF_OK + "chr1\tsim\texon\n", ["fuzz.gtf:2"]),
    ("empty", "", ["fuzz.gtf"]),
    ("binary", GTF_OK + "\x00\xff\n", ["fuzz.gtf:2"]),
    ("overflow", 'chr1\tsim\tgene\t100\t99999999999999999999999\t.\t+\t.\tgene_id "g1";\n', ["fuzz.gtf:1"]),
  ]),
  "folds": ("bed", [
    ("float", "chr1\t0.5\t100\tfold0\n", ["folds.bed:1"]),
    ("three-fields", "chr1\t0\t100\n", ["folds.bed:1"]),
    ("start-text", "chr1\tx\t100\tfold0\n", ["folds.bed:1"]),
    ("end-text", "chr1\t0\ty\tfold0\n", ["folds.bed:1"]),
    ("end-before", "chr1\t100\t50\tfold0\n", ["folds.bed:1"]),
    ("negative", "chr1\t-1\t50\tfold0\n", ["folds.bed:1"]),
    ("second-line", "chr1\t0\t100\tfold0\nchr1\t5\n", ["folds.bed:2"]),

    ("overflow", "chr1\t0\t99999999999999999999999\tfold0\n", ["folds.bed:1"]),
    ("binary", "chr1\t0\t100\tfold0\n\xff\xfe\n", ["folds.bed:2"]),
    ("empty", "", ["folds.bed"]),
    ("bad-gzip", "\x1f\x8b\x08\x00garbage", ["folds.bed"]),
  ]),
  "fragments": ("tsv", [
    ("float-start", "chr1\t1.5\t200\tAAAC\t1\n", ["fragments.tsv.gz:1"]),
    ("empty", "", ["fragments.tsv.gz"]),
    ("few-fields", "chr1\t100\t200\n", ["fragments.tsv.gz:1"]),
    ("start-text", "chr1\tx\t200\tAAAC\t1\n", ["fragments.tsv.gz:1"]),
    ("end-text", "chr1\t100\ty\tAAAC\t1\n", ["fragments.tsv.gz:1"]),
    ("end-before", "chr1\t200\t100\tAAAC\t1\n", ["fragments.tsv.gz:1"]),
    ("count-text", "chr1\t100\t200\tAAAC\tz\n", ["fragments.tsv.gz:1"]),
    ("negative", "chr1\t-5\t200\tAAAC\t1\n", ["fragments.tsv.gz:1"]),
    ("second-line", "chr1\t100\t200\tAAAC\t1\nchr1\t5\n", ["fragments.tsv.gz:2"]),
    ("overflow", "chr1\t100\t99999999999999999999999\tAAAC\t1\n", ["fragments.tsv.gz:1"]),
    ("binary", "chr1\t100\t200\tAAAC\t1\n\x00\xff\n", ["fragments.tsv.gz:2"]),

  ]),
  "borzoi_targets": ("txt", [


    ("empty", "", ["targets.txt"]),
    ("no-header", "0\tENCFF1\t/x\t768\t384\t0.3\tsum_sqrt\t0\tRNA:x\n", ["targets.txt"]),
    ("missing-column", "\tidentifier\tfile\n0\tENC\t/x\n", ["targets.txt"]),
    ("scale-text", TARGETS_HEAD + "0\tE\t/x\t768\t384\tx\tsum\t0\tRNA:x\n", ["targets.txt:2"]),
    ("clip-text", TARGETS_HEAD + "0\tE\t/x\tx\t384\t0.3\tsum\t0\tRNA:x\n", ["targets.txt:2"]),
    ("pair-text", TARGETS_HEAD + "0\tE\t/x\t768\t384\t0.3\tsum\tx\tRNA:x\n", ["targets.txt:2"]),
    ("pair-range", TARGETS_HEAD + "0\tE\t/x\t768\t384\t0.3\tsum\t7\tRNA:x\n", ["targets.txt"]),
    ("short-row", TARGETS_HEAD + "0\tE\t/x\n", ["targets.txt:2"]),
    ("scale-nan", TARGETS_HEAD + "0\tE\t/x\t768\t384\tnan\tsum\t0\tRNA:x\n", ["targets.txt:2"]),
    ("header-only", TARGETS_HEAD, ["targets.txt", "no tracks"]),
    ("duplicate-column", "\tidentifier\tfile\tidentifier\tstrand_pair\tdescription\n0\tE\t/x\tF\t0\tx\n",
     ["targets.txt:1", "`identifier` appears twice"]),
    ("index-out-of-order", TARGETS_HEAD + "0\tE\t/x\t768\t384\t0.3\tsum\t0\tRNA:x\n"
     + "2\tF\t/x\t768\t384\t0.3\tsum\t1\tRNA:y\n", ["targets.txt:3", "index 2 out of order"]),
    ("identifier-empty", TARGETS_HEAD + "0\t\t/x\t768\t384\t0.3\tsum\t0\tRNA:x\n",
     ["targets.txt:2", "identifier is empty"]),
    ("pair-asymmetric", TARGETS_HEAD + "0\tE\t/x\t768\t384\t0.3\tsum\t1\tRNA:x\n"
     + "1\tF\t/x\t768\t384\t0.3\tsum\t1\tRNA:y\n", ["targets.txt:2", "not symmetric"]),
    ("long-row", TARGETS_HEAD + "0\tE\t/x\t768\t384\t0.3\tsum\t0\tRNA:x\textra\n",
     ["targets.txt:2", "10 tab-separated fields"]),
    ("binary", TARGETS_HEAD + "0\tE\t/x\t768\t384\t0.3\tsum\t0\tRNA:\xff\xfe\n", ["targets.txt:2"]),

  ]),
  "wire": ("bin", [
    ("no-delimiter", wire("id", H, "{}", "{}", "{}"), ["delimiter"]),
    ("few-frames", wire("id", "<IDS|MSG>", "sign", H, "{}"), ["frames"]),
    ("bad-signature", wire("id", "<IDS|MSG>", "00", H, "{}", "{}", "{}"), ["signature"]),
    ("signature-not-hex", wire("id", "<IDS|MSG>", "zz", H, "{}", "{}", "{}"), ["hex"]),
    ("header-not-json", wire("id", "<IDS|MSG>", "sign", "{", "{}", "{}", "{}"), ["header"]),
    ("header-array", wire("id", "<IDS|MSG>", "sign", "[]", "{}", "{}", "{}"), ["header"]),
    ("no-msg-type", wire("id", "<IDS|MSG>", "sign", '{"msg_id":"1"}', "{}", "{}", "{}"), ["msg_type"]),
    ("msg-type-number", wire("id", "<IDS|MSG>", "sign", '{"msg_type":1}', "{}", "{}", "{}"), ["msg_type"]),
    ("content-not-json", wire("id", "<IDS|MSG>", "sign", H, "{}", "{}", "{x"), ["content"]),
    ("empty", "", ["delimiter"]),
    ("signature-empty", wire("id", "<IDS|MSG>", "", H, "{}", "{}", "{}"), ["signature"]),
  ]),
}

def main():
    n = 0
    for fmt, (ext, cases) in CASES.items():
        d = os.path.join(ROOT, fmt)
        os.makedirs(d, exist_ok=True)
        for name, content, expect in cases:
            p = os.path.join(d, f"{name}.{ext}")
            with open(p, "wb") as f:
                f.write(content.encode("latin-1"))
            with open(p + ".expect", "w") as f:
                f.write("\n".join(expect) + "\n")
            n += 1
    print(f"{n} bad inputs written", file=sys.stderr)

if __name__ == "__main__":
    main()
