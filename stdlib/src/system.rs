//! Session-level primitives about the machine: runtime information, threads, device checks.

use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{FnDoc, Registrar};
use gscript_runtime::device::CudaStatus;
use gscript_runtime::info::RuntimeInfo;
use gscript_runtime::DeviceRequest;

use crate::bridge::{in_primitive, ScriptResult};

pub fn register(reg: &mut Registrar) {
    reg.docs.add(
        FnDoc::new(
            "runtime_info",
            "core",
            "runtime_info() -> map",
            "libtorch version and location, CPU threads and features, CUDA devices or why there are none.",
        )
        .example("let info = runtime_info();\nprint(info.libtorch_version);"),
    );
    reg.engine.register_fn("runtime_info", || -> Map {
        let info = RuntimeInfo::collect();
        let mut m = Map::new();
        m.insert("libtorch_version".into(), info.libtorch_version.unwrap_or_default().into());
        m.insert("libtorch_dir".into(), info.libtorch_dir.map(|p| p.display().to_string()).unwrap_or_default().into());
        m.insert("threads".into(), (info.intra_op_threads as i64).into());
        m.insert("logical_cpus".into(), (info.logical_cpus as i64).into());
        m.insert("cpu".into(), info.cpu_model.unwrap_or_default().into());
        m.insert(
            "cpu_features".into(),
            Dynamic::from_array(info.cpu_features.into_iter().map(Dynamic::from).collect()),
        );
        let (devices, why) = match info.cuda {
            CudaStatus::Available { devices } => (devices as i64, String::new()),
            other => (0, other.to_string()),
        };
        m.insert("cuda_devices".into(), devices.into());
        m.insert("cuda_unavailable_reason".into(), why.into());
        m
    });

    reg.docs.add(
        FnDoc::new("rank", "core", "rank() -> int", "This process's rank in a launched group (`gscript launch`, torchrun, SLURM); 0 outside one.")
            .details("Output (print, displayed values and figures, progress bars) comes from rank 0 only unless the session runs with `--set output=all_ranks`. Files are written by rank 0 only: every primitive that writes one (write_h5ad, write_csv, write_bed, write_meme, write_bigwig, write_scooby, write_denoised, make_folds, model.save, save_lora, fig.save, the files of simulate_atac and simulate_multiome; training checkpoints) writes on rank 0, and every rank returns once the file exists, with rank 0's result; a failed write is an error naming the path on every rank. Every rank must make these calls, as the script does unless told otherwise: a write inside `if rank() == 0 { … }` leaves rank 0 waiting for the others. Under `--set output=all_ranks` every rank writes. A per-rank path such as `` `out_${rank()}.h5ad` `` is written by rank 0 only, under rank 0's name (docs/scaling.md).")
            .example("let path = `cells_rank${rank()}.h5ad`;\nprint(path);"),
    );
    reg.engine.register_fn("rank", || gscript_lang::Host::env_rank() as i64);
    reg.docs.add(
        FnDoc::new(
            "world_size",
            "core",
            "world_size() -> int",
            "How many processes run this script in a launched group; 1 outside one.",
        )
        .example("print(`rank ${rank()} of ${world_size()}`);"),
    );
    reg.engine.register_fn("world_size", || -> ScriptResult<i64> {
        match std::env::var("WORLD_SIZE") {
            Err(_) => Ok(1),
            Ok(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(gscript_lang::primitive_error(
                    "world_size",
                    None,
                    &format!("the environment variable WORLD_SIZE is `{v}`, not a positive integer"),
                )),
            },
        }
    });

    reg.docs.add(
        FnDoc::new(
            "set_threads",
            "core",
            "set_threads(n: int)",
            "Sets the number of CPU threads libtorch uses for compute and keeps it (otherwise it adapts to other processes' load).",
        )
        .example("set_threads(2);"),
    );
    reg.engine.register_fn("set_threads", |n: i64| -> ScriptResult<()> {
        if n < 1 {
            return Err(gscript_lang::primitive_error(
                "set_threads",
                Some("n"),
                &format!("must be at least 1, got {n}"),
            ));
        }
        gscript_runtime::threads::set_threads(n as i32);
        Ok(())
    });

    reg.docs.add(
        FnDoc::new(
            "check_device",
            "core",
            "check_device(device: string) -> string",
            "Resolves \"cpu\", \"cuda\", \"cuda:N\" or \"auto\" to the device work would run on, or fails saying why.",
        )
        .example("print(check_device(\"auto\"));"),
    );
    reg.engine.register_fn("check_device", |device: &str| -> ScriptResult<String> {
        let req: DeviceRequest = device.parse().map_err(in_primitive("check_device"))?;
        let dev = req.resolve().map_err(in_primitive("check_device"))?;
        Ok(dev.to_string())
    });
}
