//! Output helpers: every file is written to a temporary name in the same directory, synced and renamed into place,
//! so a failure or an interrupt never leaves a partial file behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh temporary path next to `path` (`.name.tmp-<pid>-<n>`), unique within this process.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// Lets `write` produce the file at a temporary path, then syncs it and renames it over `path`; the temporary file
/// is removed on any failure.
pub fn write_via_temp(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    if path.file_name().is_none() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"));
    }
    let tmp = temp_path(path);
    let result = write(&tmp)
        .and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_via_temp(path, |tmp| std::fs::write(tmp, bytes))
}

/// Why the safetensors file at `path` is inconsistent, naming the tensor where one is at fault (a shape or dtype that
/// does not match its byte range, a range past the end of the file, an unknown dtype), or `None` when its header is
/// consistent. Used to explain the bare errors of the safetensors reader (`TensorInvalidInfo`, …).
pub fn safetensors_problem(path: &Path) -> Option<String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Some(format!("cannot read it: {e}")),
    };
    let Some(n) = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap())) else {
        return Some(format!("{} bytes, shorter than the 8-byte header length", bytes.len()));
    };
    let Some(header) = usize::try_from(n).ok().and_then(|n| bytes.get(8..8usize.checked_add(n)?)) else {
        return Some(format!("the header claims {n} bytes but the file has {} (truncated?)", bytes.len()));
    };
    let data_len = (bytes.len() - 8 - header.len()) as u64;
    let header: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(header) {
        Ok(h) => h,
        Err(e) => return Some(format!("the header is not a JSON object: {e}")),
    };
    for (name, info) in header.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
        let dtype = info["dtype"].as_str().unwrap_or("?");
        let size: u64 = match dtype {
            "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
            "I16" | "U16" | "F16" | "BF16" => 2,
            "I32" | "U32" | "F32" => 4,
            "I64" | "U64" | "F64" => 8,
            _ => return Some(format!("tensor `{name}`: unknown dtype `{dtype}`")),
        };
        let shape: Option<Vec<u64>> =
            info["shape"].as_array().and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let offsets: Option<Vec<u64>> =
            info["data_offsets"].as_array().and_then(|a| a.iter().map(serde_json::Value::as_u64).collect());
        let range = offsets.as_deref().and_then(|o| <[u64; 2]>::try_from(o).ok());
        let (Some(shape), Some([begin, end])) = (shape, range) else {
            return Some(format!("tensor `{name}`: no valid `shape` and `data_offsets`"));
        };
        if begin > end || end > data_len {
            return Some(format!(
                "tensor `{name}`: bytes {begin}..{end} lie outside the {data_len} data bytes (truncated or corrupted)"
            ));
        }
        let need = shape.iter().try_fold(size, |acc, &d| acc.checked_mul(d));
        if need != Some(end - begin) {
            return Some(format!(
                "tensor `{name}`: shape {shape:?} of {dtype} needs {} bytes but {} are stored",
                need.map_or("too many".to_string(), |n| n.to_string()),
                end - begin
            ));
        }
    }
    None
}
