//! Process groups and collectives on libtorch's own distributed engine, c10d (the engine behind torch.distributed,
//! torchrun and DDP), through a small C++ shim (`src/shim.cpp`): a TCP- or file-based rendezvous, the Gloo backend on
//! CPU, and the collectives data-parallel training needs (broadcast, all-reduce, all-gather, barrier). Every
//! collective runs under the group's timeout, so a rank that died or stopped participating gives the others an error
//! naming it instead of a hang.
//!
//! [`ProcessGroup::from_env`] reads torchrun's environment (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`,
//! `MASTER_PORT`), so `torchrun`, SLURM `srun` and `gscript launch` start the same program unchanged.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tch::Tensor;

mod ffi {
    use super::*;
    #[repr(C)]
    pub struct GsPg {
        _private: [u8; 0],
    }
    extern "C" {
        pub fn gs_free_error(e: *mut c_char);
        #[allow(clippy::too_many_arguments)]
        pub fn gs_pg_create(
            store: *const c_char,
            addr: *const c_char,
            port: c_int,
            device: *const c_char,
            rank: c_int,
            world: c_int,
            timeout_ms: i64,
            out: *mut *mut GsPg,
        ) -> *mut c_char;
        pub fn gs_pg_destroy(pg: *mut GsPg);
        pub fn gs_all_reduce(pg: *mut GsPg, t: *mut c_void, op: c_int) -> *mut c_char;
        pub fn gs_broadcast(pg: *mut GsPg, t: *mut c_void, root: c_int) -> *mut c_char;
        pub fn gs_all_gather(pg: *mut GsPg, outs: *const *mut c_void, n: c_int, input: *mut c_void) -> *mut c_char;
        pub fn gs_barrier(pg: *mut GsPg) -> *mut c_char;
        #[allow(clippy::too_many_arguments)]
        pub fn gs_sync_batch_norm(
            pg: *mut GsPg,
            input: *mut c_void,
            weight: *mut c_void,
            bias: *mut c_void,
            running_mean: *mut c_void,
            running_var: *mut c_void,
            momentum: f64,
            eps: f64,
            out: *mut *mut c_void,
        ) -> *mut c_char;
    }
}

/// Errors of rendezvous and collectives.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A launcher variable is missing or malformed.
    #[error("distributed environment: {var}: {message}")]
    Env { var: &'static str, message: String },
    /// The ranks could not meet (store or transport set-up failed).
    #[error("rank {rank}: rendezvous at {at} failed: {message}")]
    Rendezvous { rank: usize, at: String, message: String },
    /// A peer closed its connections (it exited or crashed) during a collective.
    #[error("rank {rank}: {op} failed: lost {}: {message}", lost_name(*.lost))]
    PeerLost { rank: usize, op: &'static str, lost: Option<usize>, message: String },
    /// A collective did not complete within the group's timeout (a peer is alive but not participating).
    #[error("rank {rank}: {op} timed out after {timeout:?} waiting for {}: {message}", lost_name(*.lost))]
    Timeout { rank: usize, op: &'static str, timeout: Duration, lost: Option<usize>, message: String },
    /// Any other failure of a collective (e.g. a non-contiguous tensor).
    #[error("rank {rank}: {op} failed: {message}")]
    Collective { rank: usize, op: &'static str, message: String },
}

fn lost_name(lost: Option<usize>) -> String {
    match lost {
        Some(r) => format!("rank {r}"),
        None => "a peer rank".into(),
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, DistError>;

/// Reduction of [`ProcessGroup::all_reduce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// Element-wise sum over ranks.
    Sum,
    /// Element-wise mean over ranks.
    Avg,
}

/// Where the ranks meet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendezvous {
    /// A TCP key-value store served by rank 0 at `addr:port` (torchrun's `MASTER_ADDR`/`MASTER_PORT`).
    Tcp { addr: String, port: u16 },
    /// A file on a file system every rank sees.
    File { path: String },
}

/// Settings of a process group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    /// This process's rank, `0..world`.
    pub rank: usize,
    /// Number of processes.
    pub world: usize,
    /// Rank on this node (the GPU index with NCCL).
    pub local_rank: usize,
    /// Where the ranks meet.
    pub rendezvous: Rendezvous,
    /// Limit of the rendezvous and of every collective.
    pub timeout: Duration,
    /// Gloo transport: `None` binds to the address of this machine's hostname (loopback for a loopback master),
    /// `Some(name)` to a network interface (`GLOO_SOCKET_IFNAME`).
    pub interface: Option<String>,
}

/// Default timeout of rendezvous and collectives (`GSCRIPT_DIST_TIMEOUT`, seconds, overrides it).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

fn env_var(var: &'static str) -> Result<Option<String>> {
    match std::env::var(var) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v.trim().to_string())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => Err(DistError::Env { var, message: e.to_string() }),
    }
}

fn env_number<T: std::str::FromStr>(var: &'static str) -> Result<Option<T>> {
    env_var(var)?
        .map(|v| v.parse::<T>().map_err(|_| DistError::Env { var, message: format!("{v:?} is not a number") }))
        .transpose()
}

impl GroupConfig {
    /// The group described by torchrun's environment; `None` when `WORLD_SIZE` is unset (not launched in a group).
    pub fn from_env() -> Result<Option<GroupConfig>> {
        let Some(world) = env_number::<usize>("WORLD_SIZE")? else { return Ok(None) };
        if world == 0 {
            return Err(DistError::Env { var: "WORLD_SIZE", message: "must be at least 1".into() });
        }
        let need = |var: &'static str| -> Result<String> {
            env_var(var)?.ok_or_else(|| DistError::Env { var, message: format!("is not set (WORLD_SIZE is {world})") })
        };
        let rank: usize =
            need("RANK")?.parse().map_err(|_| DistError::Env { var: "RANK", message: "is not a number".into() })?;
        if rank >= world {
            return Err(DistError::Env { var: "RANK", message: format!("{rank} is not below WORLD_SIZE {world}") });
        }
        let local_rank = env_number::<usize>("LOCAL_RANK")?.unwrap_or(rank);
        let addr = env_var("MASTER_ADDR")?.unwrap_or_else(|| "127.0.0.1".into());
        let port = match env_number::<u16>("MASTER_PORT")? {
            Some(p) => p,
            None if world == 1 => 29500,
            None => {
                return Err(DistError::Env {
                    var: "MASTER_PORT",
                    message: format!("is not set (WORLD_SIZE is {world})"),
                })
            }
        };
        let timeout = match env_number::<f64>("GSCRIPT_DIST_TIMEOUT")? {
            Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s),
            Some(s) => {
                return Err(DistError::Env {
                    var: "GSCRIPT_DIST_TIMEOUT",
                    message: format!("{s} is not a positive number of seconds"),
                })
            }
            None => DEFAULT_TIMEOUT,
        };
        let interface = env_var("GLOO_SOCKET_IFNAME")?;
        Ok(Some(GroupConfig {
            rank,
            world,
            local_rank,
            rendezvous: Rendezvous::Tcp { addr, port },
            timeout,
            interface,
        }))
    }
}

fn is_loopback(addr: &str) -> bool {
    addr == "localhost" || addr.starts_with("127.") || addr == "::1"
}

struct Handle(*mut ffi::GsPg);
// The c10d process group is used from one thread at a time (behind the mutex) and may move between threads.
unsafe impl Send for Handle {}

/// A process group (Gloo backend). Collectives must be issued in the same order on every rank.
pub struct ProcessGroup {
    config: GroupConfig,
    handle: Mutex<Handle>,
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessGroup(rank {} of {}, gloo)", self.config.rank, self.config.world)
    }
}

fn take_error(e: *mut c_char) -> Option<String> {
    if e.is_null() {
        return None;
    }
    let s = unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned();
    unsafe { ffi::gs_free_error(e) };
    Some(s)
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl ProcessGroup {
    /// Joins the group: blocks until all `world` ranks have met, or fails after the timeout.
    pub fn new(config: GroupConfig) -> Result<ProcessGroup> {
        let (store, addr, port, at) = match &config.rendezvous {
            Rendezvous::Tcp { addr, port } => ("tcp", addr.clone(), *port as c_int, format!("{addr}:{port}")),
            Rendezvous::File { path } => ("file", path.clone(), 0, path.clone()),
        };
        let device = match (&config.interface, &config.rendezvous) {
            (Some(i), _) => format!("if:{i}"),
            (None, Rendezvous::Tcp { addr, .. }) if is_loopback(addr) => "host:127.0.0.1".into(),
            (None, Rendezvous::File { .. }) => "host:127.0.0.1".into(),
            _ => String::new(),
        };
        let (store, addr, device) = (cstring(store), cstring(&addr), cstring(&device));
        let mut out = std::ptr::null_mut();
        let err = unsafe {
            ffi::gs_pg_create(
                store.as_ptr(),
                addr.as_ptr(),
                port,
                device.as_ptr(),
                config.rank as c_int,
                config.world as c_int,
                config.timeout.as_millis().min(i64::MAX as u128) as i64,
                &mut out,
            )
        };
        if let Some(message) = take_error(err) {
            return Err(DistError::Rendezvous { rank: config.rank, at, message });
        }
        Ok(ProcessGroup { config, handle: Mutex::new(Handle(out)) })
    }

    /// The group of torchrun's environment (see [`GroupConfig::from_env`]); `None` when not launched in a group.
    pub fn from_env() -> Result<Option<ProcessGroup>> {
        GroupConfig::from_env()?.map(ProcessGroup::new).transpose()
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.config.rank
    }
    /// Number of processes.
    pub fn world(&self) -> usize {
        self.config.world
    }
    /// The group's settings.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    fn classify(&self, op: &'static str, message: String) -> DistError {
        let rank = self.config.rank;
        // With two ranks the peer is the other one; beyond that Gloo's messages name addresses, not ranks.
        let lost = (self.config.world == 2).then_some(1 - rank);
        let m = message.to_ascii_lowercase();
        if m.contains("timed out") || m.contains("timeout") {
            DistError::Timeout { rank, op, timeout: self.config.timeout, lost, message }
        } else if ["connection reset", "connection closed", "broken pipe", "connection refused", "eof", "socket closed"]
            .iter()
            .any(|p| m.contains(p))
        {
            DistError::PeerLost { rank, op, lost, message }
        } else {
            DistError::Collective { rank, op, message }
        }
    }

    fn call(&self, op: &'static str, f: impl FnOnce(*mut ffi::GsPg) -> *mut c_char) -> Result<()> {
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        match take_error(f(handle.0)) {
            None => Ok(()),
            Some(message) => Err(self.classify(op, message)),
        }
    }

    /// In-place all-reduce of a contiguous tensor.
    pub fn all_reduce(&self, tensor: &Tensor, op: ReduceOp) -> Result<()> {
        let op_code = match op {
            ReduceOp::Sum => 0,
            ReduceOp::Avg => 1,
        };
        self.call("all_reduce", |pg| unsafe { ffi::gs_all_reduce(pg, tensor.as_ptr() as *mut c_void, op_code) })
    }

    /// In-place broadcast of a contiguous tensor from `root`.
    pub fn broadcast(&self, tensor: &Tensor, root: usize) -> Result<()> {
        if root >= self.world() {
            return Err(DistError::Collective {
                rank: self.rank(),
                op: "broadcast",
                message: format!("root {root} is not a rank of a group of {}", self.world()),
            });
        }
        self.call("broadcast", |pg| unsafe { ffi::gs_broadcast(pg, tensor.as_ptr() as *mut c_void, root as c_int) })
    }

    /// Every rank's `tensor`, in rank order.
    pub fn all_gather(&self, tensor: &Tensor) -> Result<Vec<Tensor>> {
        let input = tensor.contiguous();
        let outs: Vec<Tensor> = (0..self.world()).map(|_| input.empty_like()).collect();
        let ptrs: Vec<*mut c_void> = outs.iter().map(|t| t.as_ptr() as *mut c_void).collect();
        self.call("all_gather", |pg| unsafe {
            ffi::gs_all_gather(pg, ptrs.as_ptr(), ptrs.len() as c_int, input.as_ptr() as *mut c_void)
        })?;
        Ok(outs)
    }

    /// Blocks until every rank reaches the barrier.
    pub fn barrier(&self) -> Result<()> {
        self.call("barrier", |pg| unsafe { ffi::gs_barrier(pg) })
    }

    /// Training-mode batch norm with the batch statistics of every rank's batch (PyTorch's `SyncBatchNorm`): `input`
    /// `(N, C, *)`, `weight`, `bias`, `running_mean` and `running_var` `(C)`. Forward all-reduces each channel's
    /// count, sum and sum of squares in one tensor, normalises with the global mean and (biased) variance, applies
    /// `weight` and `bias`, and updates the running statistics in place as `nn.BatchNorm1d` does on the whole batch
    /// (`momentum`, unbiased variance). The result is differentiable: backward all-reduces the per-channel sums of
    /// `dy` and `dy·x̂` in one tensor and returns the input's gradient with the global sums, the weight's and bias's
    /// from this rank's sums alone (a data-parallel gradient hook combines them).
    ///
    /// Weighting: backward all-reduces `cᵣ·Σdy` over ranks r (cᵣ: the rank's values per channel) and divides by
    /// `c_s·C` on rank s (C = Σcᵣ). With equal shards that is PyTorch's formula (`Σdy / C`), and summing the ranks'
    /// gradients gives the gradient of the sum of their losses. With unequal shards it is exact for what
    /// data-parallel training does: each rank's loss a mean over its items, its gradients weighted by its share of
    /// the items (`cᵣ / C` for equally shaped items) before the sum — then the step equals one process's step on the
    /// global batch.
    ///
    /// Every rank must call it (and run backward through it) in the same order as the other collectives; the
    /// backward's collective runs inside `backward()`, whose error (e.g. a lost peer) comes back from
    /// `Tensor::f_backward`. The group must not be used from another thread meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub fn sync_batch_norm(
        &self,
        input: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f64,
        eps: f64,
    ) -> Result<Tensor> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let p = |t: &Tensor| t.as_ptr() as *mut c_void;
        self.call("sync_batch_norm", |pg| unsafe {
            ffi::gs_sync_batch_norm(
                pg,
                p(input),
                p(weight),
                p(bias),
                p(running_mean),
                p(running_var),
                momentum,
                eps,
                &mut out,
            )
        })?;
        if out.is_null() {
            return Err(DistError::Collective {
                rank: self.rank(),
                op: "sync_batch_norm",
                message: "no output tensor".into(),
            });
        }
        // SAFETY: `out` is a fresh heap `at::Tensor` from the shim; tch takes ownership and frees it on drop.
        Ok(unsafe { Tensor::from_ptr(out.cast()) })
    }

    /// Sum of `values` over the ranks (f64, in place).
    pub fn all_reduce_f64(&self, values: &mut [f64]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let t = Tensor::from_slice(values);
        self.all_reduce(&t, ReduceOp::Sum)?;
        t.copy_data(values, values.len());
        Ok(())
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let handle = self.handle.get_mut().unwrap_or_else(|e| e.into_inner());
        if !handle.0.is_null() {
            unsafe { ffi::gs_pg_destroy(handle.0) };
            handle.0 = std::ptr::null_mut();
        }
    }
}

static GLOBAL: OnceLock<std::result::Result<Option<Arc<ProcessGroup>>, String>> = OnceLock::new();

/// The process-wide group of torchrun's environment, joined on first use (`None`: not launched in a group, or a
/// world of one). Every caller in the process shares it.
pub fn global() -> Result<Option<Arc<ProcessGroup>>> {
    GLOBAL
        .get_or_init(|| match GroupConfig::from_env() {
            Ok(Some(c)) if c.world > 1 => ProcessGroup::new(c).map(|g| Some(Arc::new(g))).map_err(|e| e.to_string()),
            Ok(_) => Ok(None),
            Err(e) => Err(e.to_string()),
        })
        .clone()
        .map_err(|message| DistError::Collective { rank: 0, op: "join", message })
}

/// This process's rank in torchrun's environment without joining the group (0 when not launched in a group):
/// for deciding which process prints or writes files.
pub fn env_rank() -> usize {
    env_number::<usize>("RANK").ok().flatten().unwrap_or(0)
}
