"""The gscript kernel's behaviour beyond the conformance suite, through jupyter_client as a notebook drives it.

Run by tests/kernel.rs with JUPYTER_PATH pointing at two freshly installed kernelspecs: GSCRIPT_KERNEL_NAME
(interrupt_mode "message") and GSCRIPT_KERNEL_NAME + "-signal" (interrupt_mode "signal"); the kernel is started
with GSCRIPT_KERNEL_TEST_HOOKS=1, which registers kernel_test_panic(). Each check prints a line; any failure exits 1.
"""
import os
import queue
import signal
import subprocess
import sys
import tempfile
import time

from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

NAME = os.environ.get("GSCRIPT_KERNEL_NAME", "gscript")
TIMEOUT = 60


def start(name=NAME, stderr=None):
    env = dict(os.environ, GSCRIPT_KERNEL_TEST_HOOKS="1")
    return start_new_kernel(kernel_name=name, startup_timeout=60, env=env, stderr=stderr)


def drain(kc):
    while True:
        try:
            kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            return


def execute(kc, code, **kw):
    msg_id = kc.execute(code, **kw)
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id, reply
    return reply["content"], collect(kc, msg_id)


def stdout_of(out):
    return "".join(m["content"]["text"] for m in out if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")


def check(name, cond, detail=""):
    print(f"{'ok  ' if cond else 'FAIL'} {name}" + (f": {detail}" if detail and not cond else ""), flush=True)
    if not cond:
        check.failed = True


check.failed = False


def wait_for(kc, msg_id, pred, timeout=TIMEOUT):
    """Reads iopub until a child of msg_id satisfies pred; returns the children read, that one included."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") == msg_id:
            seen.append(m)
            if pred(m):
                return seen
    raise AssertionError(f"the awaited output of {msg_id} did not come within {timeout} s")


def collect(kc, msg_id, timeout=TIMEOUT):
    """iopub children of msg_id until its idle status (not included)."""
    return wait_for(kc, msg_id, lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle", timeout)[:-1]


def interrupt_and_reply(km, kc, msg_id):
    t0 = time.time()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id
    return reply["content"], time.time() - t0


def main():
    stderr_file = tempfile.TemporaryFile()
    km, kc = start(stderr=stderr_file)
    try:
        # 1. a wrongly signed request is dropped (no reply, no output) and logged; the kernel keeps serving
        bad = Session(key=b"not-the-key", session=kc.session.session)
        bad.send(kc.shell_channel.socket, "execute_request",
                 {"code": 'print("forged")', "silent": False, "store_history": True, "user_expressions": {},
                  "allow_stdin": False, "stop_on_error": True})
        try:
            r = kc.get_shell_msg(timeout=2)
            check("forged request gets no reply", False, str(r["content"]))
        except queue.Empty:
            check("forged request gets no reply", True)
        forged_output = []
        try:
            while True:
                m = kc.get_iopub_msg(timeout=0.5)
                forged_output.append(m)
        except queue.Empty:
            pass
        check("forged request produces no output", not any("forged" in str(m["content"]) for m in forged_output))
        content, out = execute(kc, 'print("still here")')
        check("kernel serves after a forged request", content["status"] == "ok" and "still here" in stdout_of(out))
        stderr_file.seek(0)
        log = stderr_file.read().decode()
        check("forged request is logged", "bad HMAC-SHA256 signature" in log, log[-500:])

        # 2. a Rust panic inside a primitive is one error output; the kernel lives on
        content, out = execute(kc, 'let before = 5;\nkernel_test_panic("boom in native code")')
        errors = [m for m in out if m["msg_type"] == "error"]
        check("panic becomes an error reply", content["status"] == "error", str(content))
        check("panic gives exactly one error output", len(errors) == 1, str(out))
        check("panic message is shown", "boom in native code" in errors[0]["content"]["evalue"] + "\n".join(errors[0]["content"]["traceback"]) if errors else False)
        content, out = execute(kc, "before * 2")
        results = [m for m in out if m["msg_type"] == "execute_result"]
        check("session state survives a panic", results and results[0]["content"]["data"]["text/plain"] == "10", str(out))

        # 3. input(): input_request on stdin, the reply's value returned
        msg_id = kc.execute('let who = input("Your name? ");\nprint(`hello ${who}`)', allow_stdin=True)
        req = kc.get_stdin_msg(timeout=TIMEOUT)
        check("input() sends input_request with the prompt", req["msg_type"] == "input_request" and req["content"]["prompt"] == "Your name? ", str(req["content"]))
        kc.input("Ada")
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        out = collect(kc, msg_id)
        check("input() returns the typed value", reply["content"]["status"] == "ok" and "hello Ada" in stdout_of(out), stdout_of(out))
        content, out = execute(kc, 'input("no stdin here")', allow_stdin=False)
        check("input() without allow_stdin is a clear error", content["status"] == "error" and "input" in content["evalue"], str(content))

        # 4. interrupt (message mode) during an endless loop: the cell stops, the kernel stays usable
        drain(kc)
        msg_id = kc.execute("let spins = 0;\nloop { spins += 1; }")
        time.sleep(1.0)
        content, took = interrupt_and_reply(km, kc, msg_id)
        collect(kc, msg_id)
        check(f"interrupt stops a loop ({took:.2f} s)", content["status"] == "error" and took < 5, f"{content} after {took:.1f} s")
        content, out = execute(kc, "spins > 0")
        results = [m for m in out if m["msg_type"] == "execute_result"]
        check("kernel usable after interrupt", results and results[0]["content"]["data"]["text/plain"] == "true", str(out))

        # 5. interrupt during training, once its live progress display is updating
        drain(kc)
        code = ("let sim = simulate_atac(#{n_cells: 120, n_peaks: 800, n_cell_types: 2, seed: 3});\n"
                "let m = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 500, batch_size: 32, seed: 1});")
        msg_id = kc.execute(code)
        seen = wait_for(kc, msg_id, lambda m: m["msg_type"] == "update_display_data"
                        and "gscript-progress" in m["content"]["transient"].get("display_id", ""))
        displays = [m for m in seen if m["msg_type"] == "display_data" and "gscript-progress" in m["content"]["transient"].get("display_id", "")]
        check("progress bar is a display with an id, text and HTML", displays and "text/html" in displays[0]["content"]["data"]
              and "<progress" in displays[-1]["content"]["data"]["text/html"], str(displays[:1]))
        ids = {m["content"]["transient"]["display_id"] for m in displays}
        updated = {m["content"]["transient"]["display_id"] for m in seen if m["msg_type"] == "update_display_data"}
        check("progress updates the same display", updated and updated <= ids, f"{updated} vs {ids}")
        time.sleep(0.5)
        content, took = interrupt_and_reply(km, kc, msg_id)
        collect(kc, msg_id)
        check(f"interrupt stops training ({took:.2f} s)", content["status"] == "error" and took < 20, f"{content.get('evalue')} after {took:.1f} s")
        content, out = execute(kc, 'print("alive")')
        check("kernel usable after interrupted training", content["status"] == "ok" and "alive" in stdout_of(out))

        # 6. a cell queued behind a failing one is aborted (stop_on_error), later cells run
        id1 = kc.execute("sleep(0.5); undefined_thing()")
        id2 = kc.execute('print("queued")')
        r1 = kc.get_shell_msg(timeout=TIMEOUT)
        r2 = kc.get_shell_msg(timeout=TIMEOUT)
        collect(kc, id1)
        out2 = collect(kc, id2)
        check("queued cell after an error is aborted", r1["content"]["status"] == "error" and r2["content"]["status"] == "aborted"
              and "queued" not in stdout_of(out2), f"{r1['content']['status']} {r2['content']['status']}")

        # 7. restart: a fresh session on the same connection
        old_pid = km.provisioner.process.pid
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=60)
        content, out = execute(kc, "before")
        check("restart gives a fresh session", km.provisioner.process.pid != old_pid and content["status"] == "error", str(content))
        content, out = execute(kc, 'print("restarted")')
        check("restarted kernel serves", content["status"] == "ok" and "restarted" in stdout_of(out))

        # 8. shutdown: reply, then the process exits by itself with status 0
        proc = km.provisioner.process
        t0 = time.time()
        km.shutdown_kernel(now=False)
        check("shutdown exits cleanly", proc.returncode == 0 and time.time() - t0 < 10, f"rc {proc.returncode} after {time.time() - t0:.1f} s")
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)

    # 9. interrupt_mode "signal": SIGINT interrupts the cell, not the kernel (twice)
    km, kc = start(NAME + "-signal")
    try:
        check("signal-mode kernelspec", km.kernel_spec.interrupt_mode == "signal")
        for attempt in range(2):
            drain(kc)
            msg_id = kc.execute("loop { }")
            time.sleep(0.8)
            content, took = interrupt_and_reply(km, kc, msg_id)
            collect(kc, msg_id)
            check(f"SIGINT interrupts a loop (#{attempt + 1})", content["status"] == "error" and took < 5, str(content))
        content, out = execute(kc, "40 + 2")
        check("kernel usable after SIGINTs", content["status"] == "ok")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)

    # 10. a kernel whose parent dies (SIGKILL, no shutdown) exits by itself
    launcher = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\n"
         "from jupyter_client.manager import KernelManager\n"
         f"km = KernelManager(kernel_name={NAME!r}); km.start_kernel()\n"
         "print(km.provisioner.process.pid, flush=True); time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    kernel_pid = int(launcher.stdout.readline())
    time.sleep(1.0)
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    gone = False
    for _ in range(100):
        try:
            os.kill(kernel_pid, 0)
        except ProcessLookupError:
            gone = True
            break
        # a zombie counts as gone: its parent (init) reaps it
        try:
            with open(f"/proc/{kernel_pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    gone = True
                    break
        except FileNotFoundError:
            gone = True
            break
        time.sleep(0.1)
    check("orphaned kernel exits", gone)
    if not gone:
        os.kill(kernel_pid, signal.SIGKILL)

    sys.exit(1 if check.failed else 0)


if __name__ == "__main__":
    main()
