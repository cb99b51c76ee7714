//! Small helpers over HDF5 (hdf5-metno) shared by the 10x and AnnData readers: opening with clear errors, strings
//! of any storage (fixed or variable length, ASCII or UTF-8), numeric datasets read in chunks with type conversion.

use std::path::{Path, PathBuf};

use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group, H5Type};

use crate::error::{Result, RuntimeError};

/// Entries read per HDF5 call when streaming a 1-D dataset (16 Mi entries: 64 MiB of u32).
pub const CHUNK: usize = 1 << 24;

/// An open HDF5 file that names itself (and the object) in every error.
pub struct H5File {
    pub path: PathBuf,
    pub file: File,
}

impl H5File {
    pub fn open(path: &Path) -> Result<H5File> {
        let meta = std::fs::metadata(path).map_err(|e| RuntimeError::io(path, e))?;
        if meta.len() == 0 {
            return Err(RuntimeError::parse(path, 0, "empty file: expected an HDF5 file"));
        }
        // Read-only and without HDF5's advisory file lock: we never write through this handle, and the lock would refuse
        // a file this process has just written and whose handle HDF5 is still closing (its "weak" close degree).
        let file = File::with_options().with_fapl(|p| p.file_locking(false)).open(path).map_err(|e| {
            RuntimeError::parse(
                path,
                0,
                format!("cannot open as HDF5 (not an HDF5 file, or truncated/corrupt): {}", short(&e)),
            )
        })?;
        Ok(H5File { path: path.to_path_buf(), file })
    }

    /// An error about object `what` inside this file.
    pub fn err(&self, what: &str, message: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::parse(&self.path, 0, format!("'{what}': {message}"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.file.link_exists(name)
    }

    pub fn dataset(&self, name: &str, expected: &str) -> Result<Dataset> {
        if !self.has(name) {
            return Err(self.err(name, format!("missing (expected {expected})")));
        }
        self.file
            .dataset(name)
            .map_err(|e| self.err(name, format!("not a dataset (expected {expected}): {}", short(&e))))
    }

    pub fn group(&self, name: &str) -> Result<Group> {
        self.file.group(name).map_err(|e| self.err(name, format!("not a group: {}", short(&e))))
    }

    /// A whole 1-D dataset as strings.
    pub fn strings(&self, name: &str, expected: &str) -> Result<Vec<String>> {
        let ds = self.dataset(name, expected)?;
        read_strings(&ds).map_err(|e| self.err(name, e))
    }

    /// A whole 1-D numeric dataset converted to `T`.
    pub fn numbers<T: H5Type + Clone>(&self, name: &str, expected: &str) -> Result<Vec<T>> {
        let ds = self.dataset(name, expected)?;
        read_range::<T>(&ds, 0, ds.size()).map_err(|e| self.err(name, e))
    }
}

/// First line of an HDF5 error (the library's stack is long and repetitive).
pub fn short(e: &hdf5::Error) -> String {
    e.to_string().lines().next().unwrap_or("").to_string()
}

/// `[start, end)` of a 1-D dataset as `T` (HDF5 converts integer/float storage types).
pub fn read_range<T: H5Type + Clone>(ds: &Dataset, start: usize, end: usize) -> std::result::Result<Vec<T>, String> {
    if ds.ndim() != 1 {
        return Err(format!("expected a 1-D dataset, found shape {:?}", ds.shape()));
    }
    if start >= end {
        return Ok(Vec::new());
    }
    ds.read_slice_1d::<T, _>(start..end)
        .map(|a| a.to_vec())
        .map_err(|e| format!("cannot read entries {start}..{end}: {}", short(&e)))
}

/// Strings stored in any of HDF5's string types (10x uses fixed-length ASCII, AnnData variable-length UTF-8).
pub fn read_strings(ds: &Dataset) -> std::result::Result<Vec<String>, String> {
    if ds.ndim() != 1 {
        return Err(format!("expected a 1-D array of strings, found shape {:?}", ds.shape()));
    }
    let desc = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| short(&e))?;
    let read = |e: hdf5::Error| format!("cannot read strings: {}", short(&e));
    let out = match desc {
        TypeDescriptor::VarLenUnicode => {
            ds.read_raw::<VarLenUnicode>().map_err(read)?.iter().map(|s| s.as_str().to_string()).collect()
        }
        TypeDescriptor::VarLenAscii => {
            ds.read_raw::<VarLenAscii>().map_err(read)?.iter().map(|s| s.as_str().to_string()).collect()
        }
        TypeDescriptor::FixedAscii(n) if n <= 1024 => {
            ds.read_raw::<FixedAscii<1024>>().map_err(read)?.iter().map(|s| s.as_str().to_string()).collect()
        }
        TypeDescriptor::FixedUnicode(n) if n <= 1024 => {
            ds.read_raw::<FixedUnicode<1024>>().map_err(read)?.iter().map(|s| s.as_str().to_string()).collect()
        }
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => {
            return Err(format!("strings of {n} bytes are longer than the 1024 supported"))
        }
        other => return Err(format!("expected strings, found {other}")),
    };
    Ok(out)
}

/// The string value of attribute `name` on a group or dataset, if present.
pub fn string_attr(loc: &hdf5::Location, name: &str) -> Option<String> {
    let attr = loc.attr(name).ok()?;
    let desc = attr.dtype().and_then(|t| t.to_descriptor()).ok()?;
    match desc {
        TypeDescriptor::VarLenUnicode => attr.read_scalar::<VarLenUnicode>().ok().map(|s| s.as_str().to_string()),
        TypeDescriptor::VarLenAscii => attr.read_scalar::<VarLenAscii>().ok().map(|s| s.as_str().to_string()),
        TypeDescriptor::FixedAscii(_) => attr.read_scalar::<FixedAscii<1024>>().ok().map(|s| s.as_str().to_string()),
        TypeDescriptor::FixedUnicode(_) => {
            attr.read_scalar::<FixedUnicode<1024>>().ok().map(|s| s.as_str().to_string())
        }
        _ => None,
    }
}

/// Like [`string_attr`], also for fixed-length strings longer than 1024 bytes (up to 1 MiB), such as the JSON
/// `model_config` that Keras 2 stores as bytes.
pub fn long_string_attr(loc: &hdf5::Location, name: &str) -> Option<String> {
    let attr = loc.attr(name).ok()?;
    // a fixed-length string read into a shorter type would come back truncated, so pick the type by length
    match attr.dtype().and_then(|t| t.to_descriptor()).ok()? {
        TypeDescriptor::FixedAscii(n) if n > 1024 && n <= 1 << 20 => {
            attr.read_raw::<FixedAscii<{ 1 << 20 }>>().ok()?.first().map(|s| s.as_str().to_string())
        }
        TypeDescriptor::FixedUnicode(n) if n > 1024 && n <= 1 << 20 => {
            attr.read_raw::<FixedUnicode<{ 1 << 20 }>>().ok()?.first().map(|s| s.as_str().to_string())
        }
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) if n > 1 << 20 => None,
        _ => string_attr(loc, name),
    }
}

/// A string-array attribute (AnnData's `column-order`), empty when absent.
pub fn string_list_attr(loc: &hdf5::Location, name: &str) -> Vec<String> {
    let Ok(attr) = loc.attr(name) else { return Vec::new() };
    let Ok(desc) = attr.dtype().and_then(|t| t.to_descriptor()) else { return Vec::new() };
    if attr.ndim() == 0 {
        return string_attr(loc, name).into_iter().collect();
    }
    match desc {
        TypeDescriptor::VarLenUnicode => attr
            .read_raw::<VarLenUnicode>()
            .map(|v| v.iter().map(|s| s.as_str().to_string()).collect())
            .unwrap_or_default(),
        TypeDescriptor::VarLenAscii => attr
            .read_raw::<VarLenAscii>()
            .map(|v| v.iter().map(|s| s.as_str().to_string()).collect())
            .unwrap_or_default(),
        TypeDescriptor::FixedAscii(_) => attr
            .read_raw::<FixedAscii<1024>>()
            .map(|v| v.iter().map(|s| s.as_str().to_string()).collect())
            .unwrap_or_default(),
        TypeDescriptor::FixedUnicode(_) => attr
            .read_raw::<FixedUnicode<1024>>()
            .map(|v| v.iter().map(|s| s.as_str().to_string()).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// An integer-array attribute (AnnData's `shape`, `h5sparse_shape`).
pub fn int_list_attr(loc: &hdf5::Location, name: &str) -> Option<Vec<i64>> {
    loc.attr(name).ok()?.read_raw::<i64>().ok()
}
