//! The kernel's protocol side (Jupyter messaging 5.3 over pure-Rust ZeroMQ): heartbeat, control, shell, stdin and
//! iopub tasks on a tokio runtime, talking to the interpreter thread ([`crate::execute`]) over channels.
//!
//! - shell: every request is wrapped in iopub busy/idle; kernel_info and comm requests are answered here, the rest
//!   is queued for the interpreter thread, so requests are answered in order.
//! - control runs on its own task and answers while a cell runs: interrupt sets the session's interrupt flag (which
//!   Rhai and every long primitive poll), shutdown replies and exits.
//! - stdin carries `input()`: the interpreter thread hands an input_request over and blocks for the reply.
//! - a watchdog exits when the process that started the kernel is gone, so kernels are never orphaned.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use gscript_lang::{Package, Session};
use jupyter_protocol::{ConnectionInfo, JupyterMessage};
use jupyter_zmq_client::{
    create_kernel_control_connection, create_kernel_heartbeat_connection, create_kernel_iopub_xpub_connection,
    create_kernel_shell_connection, create_kernel_stdin_connection, SubscriptionEvent,
};
use serde_json::{json, Value};
use tokio::sync::mpsc as amsync;

use crate::execute::Interpreter;
use crate::sink::{child, InputRequest, KernelSink};
use crate::wire::{self, Request};

/// Work for the interpreter thread: a shell request, when it arrived, and where its reply goes.
struct Job {
    request: Box<Request>,
    received: Instant,
    reply: tokio::sync::oneshot::Sender<Option<JupyterMessage>>,
}

pub fn kernel_info_content() -> Value {
    json!({
        "status": "ok",
        "protocol_version": "5.3",
        "implementation": "gscript",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "gscript",
            "version": env!("CARGO_PKG_VERSION"),
            "mimetype": "text/x-gscript",
            "file_extension": ".gscript",
            // Rhai's syntax (let, fn, braces, `#{}` maps, backtick strings) reads well with Rust's highlighters
            "pygments_lexer": "rust",
            "codemirror_mode": "rust",
            "nbconvert_exporter": "script"
        },
        "banner": "gscript: sequence-based deep learning on single-cell chromatin accessibility. help() lists the functions.",
        "help_links": [],
        "debugger": false
    })
}

/// How the kernel is started.
pub struct KernelOptions {
    /// The packages registered into the session besides the language core: the binary passes the standard library
    /// (and the test hooks when asked).
    pub packages: Vec<Box<dyn Package + Send>>,
    /// Called with the session's interrupt flag once it exists (the CLI routes SIGINT to it).
    pub on_interrupt_flag: Option<Box<dyn FnOnce(Arc<AtomicBool>) + Send>>,
}

/// Runs the kernel for a connection file until shutdown.
pub fn run(connection_file: &Path, options: KernelOptions) -> Result<(), String> {
    let text = std::fs::read_to_string(connection_file).map_err(|e| format!("{}: {e}", connection_file.display()))?;
    let info: ConnectionInfo = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a Jupyter connection file: {e}", connection_file.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(serve_all(info, options))
}

fn log(what: &str) {
    eprintln!("gscript kernel: {what}");
}

async fn serve_all(info: ConnectionInfo, options: KernelOptions) -> Result<(), String> {
    let session_id = session_id();
    let err = |e: jupyter_zmq_client::RuntimeError| e.to_string();
    let mut heartbeat = create_kernel_heartbeat_connection(&info).await.map_err(err)?;
    let (mut shell_writer, mut shell_reader) =
        create_kernel_shell_connection(&info, &session_id).await.map_err(err)?.split();
    let mut control = create_kernel_control_connection(&info, &session_id).await.map_err(err)?;
    let (mut stdin_writer, mut stdin_reader) =
        create_kernel_stdin_connection(&info, &session_id).await.map_err(err)?.split();
    let mut iopub = create_kernel_iopub_xpub_connection(&info, &session_id).await.map_err(err)?;
    let (iopub_tx, mut iopub_rx) = amsync::unbounded_channel::<JupyterMessage>();
    let (stdin_tx, mut stdin_rx) = amsync::unbounded_channel::<InputRequest>();

    // The interpreter thread owns the session.
    let sink = Arc::new(KernelSink::new(iopub_tx.clone(), stdin_tx));
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (flag_tx, flag_rx) = mpsc::channel();
    let thread_sink = sink.clone();
    let KernelOptions { packages, on_interrupt_flag } = options;
    std::thread::Builder::new()
        .name("gscript-interpreter".into())
        .spawn(move || {
            let packages: Vec<&dyn Package> = packages.iter().map(|p| p.as_ref() as &dyn Package).collect();
            let session = Session::new(thread_sink.clone(), &packages);
            let _ = flag_tx.send(session.host().interrupt_flag());
            let mut interpreter = Interpreter::new(session, thread_sink);
            while let Ok(job) = job_rx.recv() {
                let reply = interpreter.serve(&job.request, job.received);
                let _ = job.reply.send(reply);
            }
        })
        .map_err(|e| e.to_string())?;
    let interrupt_flag: Arc<AtomicBool> = flag_rx.recv().map_err(|e| e.to_string())?;
    if let Some(f) = on_interrupt_flag {
        f(interrupt_flag.clone());
    }

    let hb = tokio::spawn(async move { while heartbeat.single_heartbeat().await.is_ok() {} });

    let iopub_task = tokio::spawn(async move {
        loop {
            tokio::select! {
                m = iopub_rx.recv() => match m {
                    Some(m) => { let _ = iopub.send(m).await; }
                    None => return,
                },
                r = iopub.recv_subscription() => {
                    if let Ok(SubscriptionEvent::Subscribe(topic)) = r {
                        let _ = iopub.send(jupyter_protocol::IoPubWelcome::new(topic).into()).await;
                    }
                }
            }
        }
    });

    // stdin: the waiter for the pending input() gets the next input_reply.
    let waiter: Arc<Mutex<Option<mpsc::Sender<String>>>> = Arc::new(Mutex::new(None));
    let w = waiter.clone();
    let stdin_send = tokio::spawn(async move {
        while let Some(req) = stdin_rx.recv().await {
            *w.lock().unwrap_or_else(|p| p.into_inner()) = Some(req.reply);
            if let Err(e) = stdin_writer.send(req.message).await {
                log(&format!("stdin: {e}"));
            }
        }
    });
    let w = waiter.clone();
    let stdin_recv = tokio::spawn(async move {
        while let Some(r) = wire::next_request(&mut stdin_reader, "stdin").await {
            if r.msg_type() != "input_reply" {
                log(&format!("stdin: ignored a {} message", r.msg_type()));
            } else if let Some(tx) = w.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(r.str("value").to_string());
            }
        }
    });

    let status = |parent: &JupyterMessage, state: &str| child(parent, "status", json!({"execution_state": state}));
    // Requests are stamped as they arrive (a reader task) and served in order (the shell task): a cell that fails
    // with stop_on_error aborts exactly the cells that arrived while it ran.
    let (arrived_tx, mut arrived_rx) = amsync::unbounded_channel::<(Box<Request>, Instant)>();
    let shell_read = tokio::spawn(async move {
        while let Some(r) = wire::next_request(&mut shell_reader, "shell").await {
            if arrived_tx.send((r, Instant::now())).is_err() {
                return;
            }
        }
    });
    let shell_iopub = iopub_tx.clone();
    let shell = tokio::spawn(async move {
        while let Some((req, received)) = arrived_rx.recv().await {
            let _ = shell_iopub.send(status(&req.message, "busy"));
            let (reply, exit) = match (answer_here(&req), req.msg_type()) {
                (Some(answer), _) => answer,
                // no comm targets: close any comm a front end opens, as the protocol asks
                (None, "comm_open") => {
                    let _ = shell_iopub.send(child(
                        &req.message,
                        "comm_close",
                        json!({"comm_id": req.str("comm_id"), "data": {}}),
                    ));
                    (None, false)
                }
                (None, "comm_msg" | "comm_close") => (None, false),
                (
                    None,
                    "execute_request"
                    | "complete_request"
                    | "inspect_request"
                    | "is_complete_request"
                    | "history_request",
                ) => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    if job_tx.send(Job { request: req.clone(), received, reply: tx }).is_err() {
                        return;
                    }
                    (rx.await.ok().flatten(), false)
                }
                (None, other) => {
                    log(&format!("shell: no handler for {other}"));
                    (None, false)
                }
            };
            if let Some(r) = reply {
                let _ = shell_writer.send(r).await;
            }
            let _ = shell_iopub.send(status(&req.message, "idle"));
            if exit {
                return;
            }
        }
    });

    let control_iopub = iopub_tx.clone();
    let control_task = tokio::spawn(async move {
        while let Some(req) = wire::next_request(&mut control, "control").await {
            let _ = control_iopub.send(status(&req.message, "busy"));
            let (reply, exit) = match (answer_here(&req), req.msg_type()) {
                (Some(answer), _) => answer,
                (None, "interrupt_request") => {
                    interrupt_flag.store(true, Ordering::SeqCst);
                    (Some(child(&req.message, "interrupt_reply", json!({"status": "ok"}))), false)
                }
                (None, other) => {
                    log(&format!("control: no handler for {other}"));
                    (None, false)
                }
            };
            if let Some(r) = reply {
                let _ = control.send(r).await;
            }
            let _ = control_iopub.send(status(&req.message, "idle"));
            if exit {
                return;
            }
        }
    });

    let watchdog = tokio::spawn(parent_watchdog());

    tokio::select! {
        _ = control_task => {}
        _ = shell => {}
        _ = shell_read => {}
        _ = hb => {}
        _ = iopub_task => {}
        _ = stdin_send => {}
        _ = stdin_recv => {}
        _ = watchdog => log("the process that started the kernel is gone; exiting"),
    }
    // let the last replies and status messages leave before the sockets close
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    Ok(())
}

/// Requests answered the same way on shell and control: kernel_info, and shutdown (deprecated on shell, still
/// answered), which also ends the kernel. Returns the reply and whether to exit.
fn answer_here(req: &Request) -> Option<(Option<JupyterMessage>, bool)> {
    match req.msg_type() {
        "kernel_info_request" => Some((Some(child(&req.message, "kernel_info_reply", kernel_info_content())), false)),
        "shutdown_request" => Some((
            Some(child(&req.message, "shutdown_reply", json!({"status": "ok", "restart": req.bool("restart", false)}))),
            true,
        )),
        _ => None,
    }
}

/// Returns when the parent process is gone: `JPY_PARENT_PID` (set by jupyter_client) when given, else the pid of
/// the parent at start; checked every second.
async fn parent_watchdog() {
    let start_parent = std::os::unix::process::parent_id();
    let watched: Option<u32> = std::env::var("JPY_PARENT_PID").ok().and_then(|p| p.parse().ok());
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let alive = match watched {
            Some(pid) => Path::new(&format!("/proc/{pid}")).exists() || !Path::new("/proc/self").exists(),
            None => std::os::unix::process::parent_id() == start_parent,
        };
        if !alive {
            return;
        }
    }
}

fn session_id() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:032x}", t ^ (std::process::id() as u128) << 64)
}
