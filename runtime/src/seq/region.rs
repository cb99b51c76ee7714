//! Genomic regions: `chr1:100-200`, `chr1-100-200`, `chr1:1,000-2,000`, `chr1_100_200`.
//!
//! Coordinates are BED-style (0-based, half-open), the convention of 10x peak names and AnnData var names.

use std::fmt;
use std::str::FromStr;

use crate::error::{Result, RuntimeError};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    pub chrom: String,
    pub start: u64,
    pub end: u64,
}

impl Region {
    pub fn new(chrom: impl Into<String>, start: u64, end: u64) -> Result<Self> {
        let chrom = chrom.into();
        if chrom.is_empty() {
            return Err(RuntimeError::invalid("region", "empty chromosome name"));
        }
        if end <= start {
            return Err(RuntimeError::invalid(
                "region",
                format!("{chrom}:{start}-{end}: end must be greater than start"),
            ));
        }
        Ok(Region { chrom, start, end })
    }
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    /// Midpoint as the Keras original computes it: `(start + end) // 2`.
    pub fn center(&self) -> u64 {
        // In u128: a BED line may carry coordinates near u64::MAX, whose sum overflows.
        ((self.start as u128 + self.end as u128) / 2) as u64
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}-{}", self.chrom, self.start, self.end)
    }
}

impl FromStr for Region {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let bad = || {
            RuntimeError::invalid(
                "region",
                format!("cannot read '{s}' as a region: expected chr:start-end, chr-start-end or chr_start_end"),
            )
        };
        let num = |x: &str| x.replace(',', "").parse::<u64>().map_err(|_| bad());
        // chr:start-end (chromosome names may contain '-' or '_', so split from the right)
        if let Some((chrom, range)) = t.rsplit_once(':') {
            let (a, b) = range.split_once('-').ok_or_else(bad)?;
            return Region::new(chrom, num(a)?, num(b)?);
        }
        for sep in ['-', '_'] {
            let parts: Vec<&str> = t.rsplitn(3, sep).collect();
            if let [b, a, chrom] = parts.as_slice() {
                if let (Ok(a), Ok(b)) = (num(a), num(b)) {
                    return Region::new(*chrom, a, b);
                }
            }
        }
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_spellings() {
        let r: Region = "chr1:100-200".parse().unwrap();
        assert_eq!((r.chrom.as_str(), r.start, r.end), ("chr1", 100, 200));
        assert_eq!("chr2-5-10".parse::<Region>().unwrap(), Region::new("chr2", 5, 10).unwrap());
        assert_eq!("chrX_5_10".parse::<Region>().unwrap(), Region::new("chrX", 5, 10).unwrap());
        assert_eq!("chr1:1,000-2,000".parse::<Region>().unwrap().len(), 1000);
        assert_eq!("HLA-A:1-5".parse::<Region>().unwrap().chrom, "HLA-A");
        assert_eq!(Region::new("c", 10, 13).unwrap().center(), 11);
    }

    #[test]
    fn rejects_malformed_regions() {
        for bad in ["chr1", "chr1:100", "chr1:a-b", "chr1:200-100", ":1-2", "chr1-1"] {
            let err = bad.parse::<Region>().unwrap_err().to_string();
            assert!(err.contains("region"), "{bad}: {err}");
        }
    }
}
