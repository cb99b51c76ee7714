//! Bounded reading of the decompressed BAM stream. noodles-bam sizes its buffers from the length fields it reads
//! (a reference name's `l_name`, a record's `block_size`) before reading the bytes, so a corrupt 4-byte field costs
//! up to 4 GiB whether or not the bytes exist. Here the reference list is parsed with reads that grow with the data
//! actually present, and each record's bytes are buffered (in chunks) before noodles sees its `block_size`: a
//! length the stream cannot back is an error naming the field, and no allocation outgrows the input.

use std::io::{self, Read};

/// Bytes read from the inner stream per step while a length field is being backed by data.
const CHUNK: usize = 64 * 1024;

/// A reader with a lookahead buffer that grows only with bytes read from `inner`.
pub(crate) struct Lookahead<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Lookahead<R> {
    pub(crate) fn new(inner: R) -> Self {
        Lookahead { inner, buf: Vec::new(), pos: 0 }
    }

    /// Buffers up to `n` unread bytes (fewer only at the end of the stream); returns how many are buffered.
    fn fill_to(&mut self, n: usize) -> io::Result<usize> {
        while self.buf.len() - self.pos < n {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            let old = self.buf.len();
            let want = (n - old).min(CHUNK);
            self.buf.resize(old + want, 0);
            let got = loop {
                match self.inner.read(&mut self.buf[old..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            match got {
                Ok(k) => {
                    self.buf.truncate(old + k);
                    if k == 0 {
                        break;
                    }
                }
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
        Ok(self.buf.len() - self.pos)
    }

    /// Makes sure the next record (its 4-byte `block_size` and that many bytes) is buffered, so noodles' buffer of
    /// `block_size` bytes is backed by data already read. At the end of the stream (no bytes left) this is a no-op.
    pub(crate) fn prefetch_record(&mut self) -> io::Result<()> {
        let have = self.fill_to(4)?;
        if have == 0 {
            return Ok(());
        }
        if have < 4 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ends inside a record's block_size"));
        }
        let b = &self.buf[self.pos..self.pos + 4];
        let block_size = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let have = self.fill_to(4 + block_size)?;
        if have < 4 + block_size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("block_size is {block_size} bytes but the stream ends {} bytes later", have - 4),
            ));
        }
        Ok(())
    }
}

impl<R: Read> Read for Lookahead<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.inner.read(out)
    }
}

fn read_u32<R: Read>(r: &mut R, what: &str) -> Result<u32, String> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(|e| format!("cannot read {what} ({e})"))?;
    Ok(u32::from_le_bytes(b))
}

/// The binary reference list (`n_ref`, then `l_name`, NUL-terminated name and `l_ref` per reference), read with
/// allocations bounded by the bytes present: a count or length larger than the rest of the stream is an error.
pub(crate) fn read_reference_list<R: Read>(r: &mut R) -> Result<Vec<(String, u64)>, String> {
    let n_ref = read_u32(r, "the reference count n_ref")?;
    let mut out = Vec::new();
    for i in 0..n_ref as u64 {
        let l_name = read_u32(r, &format!("reference {}'s name length l_name (n_ref = {n_ref})", i + 1))?;
        if l_name == 0 {
            return Err(format!("reference {}: name length l_name is 0", i + 1));
        }
        let mut name = Vec::new();
        let got = r
            .by_ref()
            .take(l_name as u64)
            .read_to_end(&mut name)
            .map_err(|e| format!("cannot read reference {}'s name ({e})", i + 1))?;
        if got < l_name as usize {
            return Err(format!(
                "reference {}: name length l_name is {l_name} bytes but the file ends after {got}",
                i + 1
            ));
        }
        if name.pop() != Some(0) {
            return Err(format!("reference {}: the name is not NUL-terminated", i + 1));
        }
        let name = String::from_utf8_lossy(&name).into_owned();
        let l_ref = read_u32(r, &format!("reference {} ({name})'s length l_ref", i + 1))?;
        if l_ref == 0 || l_ref > i32::MAX as u32 {
            return Err(format!("reference {} ({name}): length l_ref {} is not a positive int32", i + 1, l_ref as i32));
        }
        out.push((name, l_ref as u64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(list: &[(&[u8], u32)]) -> Vec<u8> {
        let mut v = (list.len() as u32).to_le_bytes().to_vec();
        for (name, len) in list {
            v.extend((name.len() as u32 + 1).to_le_bytes());
            v.extend(*name);
            v.push(0);
            v.extend(len.to_le_bytes());
        }
        v
    }

    #[test]
    fn reference_list_reads_valid_and_rejects_unbacked_lengths() {
        let ok = refs(&[(b"chr1", 1000), (b"chrM", 16_569)]);
        assert_eq!(
            read_reference_list(&mut &ok[..]).unwrap(),
            vec![("chr1".to_string(), 1000), ("chrM".to_string(), 16_569)]
        );
        let mut huge = 1u32.to_le_bytes().to_vec();
        huge.extend(0x8000_0000u32.to_le_bytes());
        huge.extend(b"chr1\0");
        let e = read_reference_list(&mut &huge[..]).unwrap_err();
        assert!(e.contains("l_name is 2147483648 bytes but the file ends after 5"), "{e}");
        let many = [u32::MAX.to_le_bytes().to_vec(), refs(&[(b"a", 5)])[4..].to_vec()].concat();
        let e = read_reference_list(&mut &many[..]).unwrap_err();
        assert!(e.contains("reference 2") && e.contains("n_ref = 4294967295"), "{e}");
    }

    #[test]
    fn lookahead_passes_bytes_through_and_checks_block_size() {
        let mut rec = 3u32.to_le_bytes().to_vec();
        rec.extend([7, 8, 9]);
        rec.extend(1u32.to_le_bytes());
        rec.push(5);
        let mut l = Lookahead::new(&rec[..]);
        l.prefetch_record().unwrap();
        let mut all = Vec::new();
        l.read_to_end(&mut all).unwrap();
        assert_eq!(all, rec);
        let mut bad = u32::MAX.to_le_bytes().to_vec();
        bad.extend([1, 2, 3]);
        let e = Lookahead::new(&bad[..]).prefetch_record().unwrap_err();
        assert!(e.to_string().contains("block_size is 4294967295 bytes but the stream ends 3 bytes later"), "{e}");
        assert!(Lookahead::new(&[][..]).prefetch_record().is_ok());
    }
}
