//! Files in a process group (`gscript launch`, torchrun, SLURM; docs/scaling.md): the one convention of every
//! primitive that writes a file. Every line of a script runs on every rank, so without it N ranks would write the
//! same path at once. [`write_from_rank_zero`] runs the writer on rank 0 only (atomically, as outside a group), then
//! broadcasts the outcome over the process-wide group ([`gscript_dist::global`]): the writer's result (JSON), or its
//! error. Every rank returns it, so the file exists when the call returns on any rank, the script sees the same value
//! on every rank, and a failure on rank 0 is an error naming the path on every rank (all ranks stop together).
//!
//! Under `--set output=all_ranks` every rank writes (no collective). Outside a group (no `WORLD_SIZE`, or a world of
//! one) the writer just runs. The other ranks wait for rank 0's write inside a broadcast, so a write longer than the
//! collective timeout (`GSCRIPT_DIST_TIMEOUT`, default 300 s) fails there. As with any collective, every rank must
//! make the call: one inside `if rank() == 0 { … }` leaves rank 0 waiting for the others.

use gscript_dist::ProcessGroup;
use gscript_lang::rhai::{Dynamic, EvalAltResult, Map};
use gscript_lang::{primitive_error, Host};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::bridge::ScriptResult;

/// Whether every rank writes its own files (`--set output=all_ranks`), as every rank shows its output then.
fn all_ranks_write(host: &Host) -> bool {
    host.param("output").as_deref() == Some("all_ranks")
}

/// Runs `write` (which writes `path`, the primitive's argument `argument`) on rank 0 of the process group only and
/// returns its result on every rank; see the module docs. `T` travels to the other ranks as JSON.
pub fn write_from_rank_zero<T: Serialize + DeserializeOwned>(
    host: &Host,
    primitive: &str,
    argument: &str,
    path: &str,
    write: impl FnOnce() -> ScriptResult<T>,
) -> ScriptResult<T> {
    if all_ranks_write(host) {
        return write();
    }
    // Like any collective, the call must happen on every rank: a write inside `if rank() == 0 { … }` leaves rank 0
    // waiting for the others (until they exit, or the timeout).
    let hint = format!(
        " (every rank must call {primitive}: it writes on rank 0 and tells the others; not inside `if rank() == 0`)"
    );
    let group = gscript_dist::global().map_err(|e| {
        primitive_error(primitive, Some(argument), &format!("cannot join the process group to write {path}: {e}{hint}"))
    })?;
    let Some(group) = group else { return write() };
    // (on the other ranks a lost rank 0 is a crash, not a missing call)
    let hint = if group.rank() == 0 { hint.as_str() } else { "" };
    let shared = |e: gscript_dist::DistError| {
        primitive_error(
            primitive,
            Some(argument),
            &format!("sharing the outcome of rank 0's write of {path}: {e}{hint}"),
        )
    };
    if group.rank() == 0 {
        let result = write();
        let outcome = match &result {
            Ok(value) => serde_json::to_string(value).map_err(|e| format!("cannot encode the result: {e}")),
            Err(_) => Ok(String::new()),
        };
        match (result, outcome) {
            (Ok(value), Ok(json)) => {
                send_outcome(&group, Ok(&json)).map_err(shared)?;
                Ok(value)
            }
            (Ok(_), Err(message)) => {
                send_outcome(&group, Err(&message)).map_err(shared)?;
                Err(primitive_error(primitive, Some(argument), &message))
            }
            (Err(e), _) => {
                // Rank 0 stops with its own error; the others learn it from the broadcast.
                let message = match e.as_ref() {
                    EvalAltResult::ErrorRuntime(m, _) => m.to_string(),
                    other => other.to_string(),
                };
                send_outcome(&group, Err(&message)).map_err(shared)?;
                Err(e)
            }
        }
    } else {
        match receive_outcome(&group).map_err(shared)? {
            Ok(json) => serde_json::from_str(&json).map_err(|e| {
                primitive_error(
                    primitive,
                    Some(argument),
                    &format!("rank 0 wrote {path}, but its result is unreadable: {e}"),
                )
            }),
            Err(message) => {
                // "write_csv: argument `path`: /x/y.csv: No such file…" → "No such file…"
                let prefix = format!("{primitive}: argument `{argument}`: ");
                let why = message.strip_prefix(&prefix).unwrap_or(&message);
                let why = why.strip_prefix(&format!("{path}: ")).unwrap_or(why);
                Err(primitive_error(primitive, Some(argument), &format!("rank 0 could not write {path}: {why}")))
            }
        }
    }
}

/// Rank 0's half of the outcome's broadcast: a header `[failed, length]`, then the UTF-8 text (when not empty).
fn send_outcome(group: &ProcessGroup, outcome: Result<&str, &str>) -> gscript_dist::Result<()> {
    let (failed, text) = match outcome {
        Ok(t) => (0, t),
        Err(t) => (1, t),
    };
    group.broadcast(&Tensor::from_slice(&[failed, text.len() as i64]), 0)?;
    if !text.is_empty() {
        group.broadcast(&Tensor::from_slice(text.as_bytes()), 0)?;
    }
    Ok(())
}

/// The other ranks' half of [`send_outcome`]: rank 0's result text, or its error.
fn receive_outcome(group: &ProcessGroup) -> gscript_dist::Result<Result<String, String>> {
    let header = Tensor::zeros([2], (Kind::Int64, Device::Cpu));
    group.broadcast(&header, 0)?;
    let mut head = [0i64; 2];
    header.copy_data(&mut head, 2);
    let len = usize::try_from(head[1]).unwrap_or(0);
    let mut bytes = vec![0u8; len];
    if len > 0 {
        let body = Tensor::zeros([len as i64], (Kind::Uint8, Device::Cpu));
        group.broadcast(&body, 0)?;
        body.copy_data(&mut bytes, len);
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(if head[0] == 0 { Ok(text) } else { Err(text) })
}

/// [`write_from_rank_zero`] for a writer that returns a map (paths, statistics): it travels as a `Dynamic`.
pub fn write_map_from_rank_zero(
    host: &Host,
    primitive: &str,
    argument: &str,
    path: &str,
    write: impl FnOnce() -> ScriptResult<Map>,
) -> ScriptResult<Map> {
    let value: Dynamic = write_from_rank_zero(host, primitive, argument, path, || write().map(Dynamic::from_map))?;
    let kind = value.type_name();
    value.try_cast::<Map>().ok_or_else(|| {
        primitive_error(primitive, Some(argument), &format!("rank 0 wrote {path}, but returned a {kind}, not a map"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_map_survives_the_trip_to_the_other_ranks() {
        // What the other ranks decode is what rank 0 returned: ints stay ints, floats keep their bits.
        let mut inner = Map::new();
        inner.insert("seconds".into(), Dynamic::from(0.1_f64 + 0.2));
        inner.insert("types".into(), Dynamic::from_array(vec!["B".into(), "T".into()]));
        let mut m = Map::new();
        m.insert("items".into(), Dynamic::from(42_i64));
        m.insert("zoom_levels".into(), Dynamic::from_array(vec![Dynamic::from(4_i64), Dynamic::from(16_i64)]));
        m.insert("path".into(), "out/a.bw".into());
        m.insert("summary".into(), inner.into());
        let json = serde_json::to_string(&Dynamic::from_map(m.clone())).unwrap();
        let back = serde_json::from_str::<Dynamic>(&json).unwrap().try_cast::<Map>().unwrap();
        assert_eq!(back["items"].as_int(), Ok(42));
        assert_eq!(back["path"].clone().into_string().unwrap(), "out/a.bw");
        let levels: Vec<i64> =
            back["zoom_levels"].clone().into_array().unwrap().iter().map(|x| x.as_int().unwrap()).collect();
        assert_eq!(levels, [4, 16]);
        let summary = back["summary"].clone().try_cast::<Map>().unwrap();
        assert_eq!(summary["seconds"].as_float().unwrap().to_bits(), (0.1_f64 + 0.2).to_bits());
        assert_eq!(summary["types"].clone().into_array().unwrap().len(), 2);
        assert_eq!(back.len(), m.len());
    }
}
