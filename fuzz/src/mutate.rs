//! Structure-aware byte mutations: bit flips and byte edits for binary formats, plus line, field and number edits
//! for the text formats (a number replaced by an edge value, a tab-separated field emptied, a line duplicated), and
//! splices between corpus entries. Each call applies a few stacked edits.

use crate::rng::Rng;

/// Edge values that parsers mishandle: signs, overflow of u32/i64/u64, floats beyond f64, NaN and infinities.
pub const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0",
    "1",
    "2",
    "255",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "1e309",
    "-1e309",
    "1e-320",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "0.5",
    "-0.5",
    "1.5e3",
    "0x10",
    "",
    " ",
    "+",
    "-",
    "1,000",
];

/// Little-endian integers for binary formats.
const WORDS: &[u64] =
    &[0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, u64::MAX, 1 << 40];

/// Tokens common to every text format.
const TOKENS: &[&str] =
    &["\t", "\n", "\r\n", " ", "#", ">", "\"", ";", ":", "=", "\0", "\u{feff}", "é", "\t\t", "\n\n"];

fn span(rng: &mut Rng, len: usize) -> (usize, usize) {
    if len == 0 {
        return (0, 0);
    }
    let a = rng.below(len);
    let max = (len - a).min(if rng.chance(1, 8) { len } else { 16 });
    (a, a + 1 + rng.below(max))
}

/// Positions of ASCII number runs (digits with an optional leading sign, dot or exponent).
fn numbers(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i].is_ascii_digit() {
            let mut a = i;
            if a > 0 && data[a - 1] == b'-' {
                a -= 1;
            }
            while i < data.len() && (data[i].is_ascii_digit() || matches!(data[i], b'.' | b'e' | b'E')) {
                i += 1;
            }
            out.push((a, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of the lines (without their newline).
fn lines(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            out.push((a, i));
            a = i + 1;
        }
    }
    if a < data.len() {
        out.push((a, data.len()));
    }
    out
}

/// Byte ranges of fields separated by tabs, spaces, commas or line ends.
fn fields(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = 0;
    for (i, &b) in data.iter().enumerate() {
        if matches!(b, b'\t' | b' ' | b',' | b'\n' | b';') {
            if i > a {
                out.push((a, i));
            }
            a = i + 1;
        }
    }
    if a < data.len() {
        out.push((a, data.len()));
    }
    out
}

/// Applies 1–6 stacked edits to `data`; `dict` adds the format's own keywords; `others` are splice partners.
/// The result is at most `max_len` bytes.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, dict: &[&str], others: &[Vec<u8>], text: bool, max_len: usize) {
    let most = if rng.chance(1, 4) { 6 } else { 2 };
    let n = 1 + rng.below(most);
    for _ in 0..n {
        edit(rng, data, dict, others, text);
    }
    data.truncate(max_len);
}

fn token<'a>(rng: &mut Rng, dict: &[&'a str]) -> &'a str {
    match rng.below(3) {
        0 if !dict.is_empty() => dict[rng.below(dict.len())],
        1 => NUMBERS[rng.below(NUMBERS.len())],
        _ => TOKENS[rng.below(TOKENS.len())],
    }
}

fn edit(rng: &mut Rng, data: &mut Vec<u8>, dict: &[&str], others: &[Vec<u8>], text: bool) {
    let len = data.len();
    // Text formats get the structured edits most of the time, binary ones the byte edits.
    let op = if text { rng.below(16) } else { rng.below(10) };
    match op {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.next_u64() as u8;
        }
        2 if len > 0 => {
            let (a, b) = span(rng, len);
            data.drain(a..b);
        }
        3 => {
            let at = rng.below(len + 1);
            let k = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..k).map(|_| rng.next_u64() as u8).collect();
            data.splice(at..at, bytes);
        }
        4 if len > 0 => {
            let (a, b) = span(rng, len);
            let copy = data[a..b].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, copy);
        }
        5 if len > 0 => data.truncate(rng.below(len)),
        6 if !others.is_empty() => {
            let other = rng.pick(others);
            if !other.is_empty() {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
        }
        7 if len >= 8 => {
            let w = *rng.pick(WORDS);
            let width = *rng.pick(&[1usize, 2, 4, 8]);
            let at = rng.below(len - width + 1);
            data[at..at + width].copy_from_slice(&w.to_le_bytes()[..width]);
        }
        8 | 9 => {
            let at = rng.below(len + 1);
            let t = token(rng, dict).as_bytes().to_vec();
            data.splice(at..at, t);
        }
        10 | 11 => {
            let nums = numbers(data);
            if !nums.is_empty() {
                let (a, b) = *rng.pick(&nums);
                let t = rng.pick(NUMBERS).as_bytes().to_vec();
                data.splice(a..b, t);
            }
        }
        12 => {
            let ls = lines(data);
            if !ls.is_empty() {
                let (a, b) = *rng.pick(&ls);
                match rng.below(3) {
                    0 => {
                        let end = (b + 1).min(data.len());
                        data.drain(a..end);
                    }
                    1 => {
                        let mut copy = data[a..b].to_vec();
                        copy.push(b'\n');
                        let (c, _) = *rng.pick(&ls);
                        data.splice(c..c, copy);
                    }
                    _ => {
                        let (c, d) = *rng.pick(&ls);
                        if d <= a {
                            let (x, y) = (data[c..d].to_vec(), data[a..b].to_vec());
                            data.splice(a..b, x);
                            data.splice(c..d, y);
                        }
                    }
                }
            }
        }
        13 | 14 => {
            let fs = fields(data);
            if !fs.is_empty() {
                let (a, b) = *rng.pick(&fs);
                let t = token(rng, dict).as_bytes().to_vec();
                data.splice(a..b, t);
            }
        }
        _ => {
            let fs = fields(data);
            if fs.len() >= 2 {
                let (a, b) = *rng.pick(&fs);
                let (c, d) = *rng.pick(&fs);
                if b <= c {
                    let (x, y) = (data[a..b].to_vec(), data[c..d].to_vec());
                    data.splice(c..d, x);
                    data.splice(a..b, y);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_bounded() {
        let seed = b"chr1\t10\t20\tpeak\t0\t.\t1.5\n".to_vec();
        let run = |s: u64| {
            let mut rng = Rng::new(s);
            (0..200)
                .map(|_| {
                    let mut d = seed.clone();
                    mutate(&mut rng, &mut d, &["chr1"], std::slice::from_ref(&seed), true, 64);
                    d
                })
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert!(a.iter().all(|d| d.len() <= 64));
        // Mutations change the input (a copy of the seed now and then is fine, not most of the time).
        assert!(a.iter().filter(|d| **d != seed).count() > 150);
    }
}
