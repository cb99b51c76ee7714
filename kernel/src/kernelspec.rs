//! `gscript kernel install`: writes the kernelspec (kernel.json and logos) where Jupyter looks for kernels, with
//! Jupyter's own rules for the user, sys-prefix and prefix locations (`JUPYTER_DATA_DIR`, `XDG_DATA_HOME`,
//! `VIRTUAL_ENV` / `CONDA_PREFIX`).

use std::path::{Path, PathBuf};

/// Where to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallLocation {
    /// The user's Jupyter data directory.
    User,
    /// The active Python environment (`VIRTUAL_ENV`, `CONDA_PREFIX`, else `sys.prefix` of `python3`).
    SysPrefix,
    /// `<prefix>/share/jupyter/kernels`.
    Prefix(PathBuf),
}

/// The user's Jupyter data directory, as jupyter_core computes it: `JUPYTER_DATA_DIR`, else
/// `$XDG_DATA_HOME/jupyter`, else `~/.local/share/jupyter` (`~/Library/Jupyter` on macOS).
pub fn user_data_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("JUPYTER_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).ok_or("HOME is not set")?;
    if cfg!(target_os = "macos") {
        return Ok(home.join("Library/Jupyter"));
    }
    match std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(x) => Ok(PathBuf::from(x).join("jupyter")),
        None => Ok(home.join(".local/share/jupyter")),
    }
}

fn sys_prefix() -> Result<PathBuf, String> {
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
    }
    let out =
        std::process::Command::new("python3").args(["-c", "import sys; print(sys.prefix)"]).output().map_err(|e| {
            format!(
                "--sys-prefix needs an active Python environment (VIRTUAL_ENV or CONDA_PREFIX) or python3 on PATH: {e}"
            )
        })?;
    if !out.status.success() {
        return Err("python3 could not report sys.prefix".into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The kernels directory for a location.
pub fn kernels_dir(location: &InstallLocation) -> Result<PathBuf, String> {
    Ok(match location {
        InstallLocation::User => user_data_dir()?.join("kernels"),
        InstallLocation::SysPrefix => sys_prefix()?.join("share/jupyter/kernels"),
        InstallLocation::Prefix(p) => p.join("share/jupyter/kernels"),
    })
}

/// How front ends interrupt a running cell: an interrupt_request on the control channel (the default; works on every
/// platform and through remote kernel gateways) or SIGINT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptMode {
    Message,
    Signal,
}

impl std::str::FromStr for InterruptMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "message" => Ok(InterruptMode::Message),
            "signal" => Ok(InterruptMode::Signal),
            other => Err(format!("interrupt mode `{other}`: expected message or signal")),
        }
    }
}

/// kernel.json for the executable `exe`.
pub fn kernel_json(exe: &Path, display_name: &str, interrupt_mode: InterruptMode) -> serde_json::Value {
    serde_json::json!({
        "argv": [exe.display().to_string(), "kernel", "run", "--connection-file", "{connection_file}"],
        "display_name": display_name,
        "language": "gscript",
        "interrupt_mode": if interrupt_mode == InterruptMode::Signal { "signal" } else { "message" },
        "env": {},
        "metadata": { "debugger": false },
    })
}

/// Writes `<kernels dir>/<name>/{kernel.json, logo-32x32.png, logo-64x64.png}` (each atomically) and returns the
/// kernelspec directory.
pub fn install(
    location: &InstallLocation,
    name: &str,
    display_name: &str,
    exe: &Path,
    interrupt_mode: InterruptMode,
) -> Result<PathBuf, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(format!("kernel name `{name}`: use letters, digits, '-', '_' or '.' (Jupyter's rule)"));
    }
    let dir = kernels_dir(location)?.join(name.to_ascii_lowercase());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json =
        serde_json::to_string_pretty(&kernel_json(exe, display_name, interrupt_mode)).map_err(|e| e.to_string())?;
    let write = |file: &str, bytes: &[u8]| {
        let p = dir.join(file);
        gscript_runtime::io::write_atomic(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("kernel.json", json.as_bytes())?;
    for size in [32u32, 64] {
        write(&format!("logo-{size}x{size}.png"), &logo_png(size))?;
    }
    Ok(dir)
}

/// A simple logo: two interleaved strands (the colours of the plots' palette) on a round dark badge.
pub fn logo_png(size: u32) -> Vec<u8> {
    let n = size as f64;
    let mut rgba = vec![0u8; (size * size * 4) as usize];
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = ((x as f64 + 0.5) / n, (y as f64 + 0.5) / n);
            let (dx, dy) = (fx - 0.5, fy - 0.5);
            let i = ((y * size + x) * 4) as usize;
            if dx * dx + dy * dy > 0.25 {
                continue; // transparent outside the badge
            }
            let mut c = [32u8, 42, 54, 255];
            let s1 = 0.5 + 0.22 * (fy * std::f64::consts::TAU).sin();
            let s2 = 0.5 - 0.22 * (fy * std::f64::consts::TAU).sin();
            if (fx - s1).abs() < 0.07 {
                c = [0, 158, 115, 255];
            } else if (fx - s2).abs() < 0.07 {
                c = [230, 159, 0, 255];
            }
            rgba[i..i + 4].copy_from_slice(&c);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size, size);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(&rgba);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_under_a_prefix_with_a_valid_kernel_json() {
        let dir = tempfile::tempdir().unwrap();
        let spec = install(
            &InstallLocation::Prefix(dir.path().to_path_buf()),
            "gscript",
            "gscript",
            Path::new("/opt/bin/gscript"),
            InterruptMode::Message,
        )
        .unwrap();
        assert_eq!(spec, dir.path().join("share/jupyter/kernels/gscript"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(spec.join("kernel.json")).unwrap()).unwrap();
        assert_eq!(
            v["argv"],
            serde_json::json!(["/opt/bin/gscript", "kernel", "run", "--connection-file", "{connection_file}"])
        );
        assert_eq!(v["language"], "gscript");
        assert_eq!(v["interrupt_mode"], "message");
        for s in [32, 64] {
            let png = std::fs::read(spec.join(format!("logo-{s}x{s}.png"))).unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        }
        assert!(install(
            &InstallLocation::Prefix(dir.path().to_path_buf()),
            "bad name",
            "x",
            Path::new("g"),
            InterruptMode::Signal
        )
        .is_err());
    }
}
