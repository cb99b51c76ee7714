// C shim over libtorch's c10d (the engine behind torch.distributed): stores, the Gloo process group and the
// collectives gscript uses. Every function catches C++ exceptions and returns them as a malloc'd error string
// (NULL on success) so nothing is thrown across the FFI boundary. Tensors are tch's `at::Tensor*`.
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct gs_pg {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

static char* dup_error(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

template <typename F>
static char* guarded(F f) {
  try {
    f();
    return nullptr;
  } catch (const c10::Error& e) {
    return dup_error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return dup_error(e.what());
  } catch (...) {
    return dup_error("unknown C++ exception");
  }
}

static void check_tensor(const at::Tensor& t, const char* what) {
  if (!t.defined()) throw std::runtime_error(std::string(what) + " is an undefined tensor");
  if (!t.is_contiguous()) throw std::runtime_error(std::string(what) + " is not contiguous");
}

extern "C" {

void gs_free_error(char* e) { std::free(e); }

// store: "tcp" (addr = host of rank 0's store, port) or "file" (addr = path shared by all ranks).
// device: gloo transport: "" resolves this machine's hostname, "host:<addr>" binds to an address,
// "if:<name>" to a network interface.
char* gs_pg_create(const char* store_kind, const char* addr, int port, const char* device, int rank, int world,
                   int64_t timeout_ms, gs_pg** out) {
  *out = nullptr;
  return guarded([&] {
    auto pg = std::make_unique<gs_pg>();
    pg->timeout = std::chrono::milliseconds(timeout_ms);
    std::string kind(store_kind);
    if (kind == "tcp") {
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(port);
      so.isServer = rank == 0;
      so.numWorkers = world;
      so.timeout = pg->timeout;
      pg->store = c10::make_intrusive<c10d::TCPStore>(std::string(addr), so);
    } else if (kind == "file") {
      pg->store = c10::make_intrusive<c10d::FileStore>(std::string(addr), world);
      pg->store->setTimeout(pg->timeout);
    } else {
      throw std::runtime_error("unknown store kind " + kind);
    }
    auto options = c10d::ProcessGroupGloo::Options::create(pg->timeout);
    std::string dev(device);
    if (dev.rfind("host:", 0) == 0) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(dev.substr(5)));
    } else if (dev.rfind("if:", 0) == 0) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(dev.substr(3)));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    options->threads = 2;
    pg->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(pg->store, rank, world, options);
    *out = pg.release();
  });
}

void gs_pg_destroy(gs_pg* pg) {
  try {
    delete pg;
  } catch (...) {
  }
}

// In place; op 0 = sum, 1 = average.
char* gs_all_reduce(gs_pg* pg, void* tensor, int op) {
  return guarded([&] {
    at::Tensor& t = *static_cast<at::Tensor*>(tensor);
    check_tensor(t, "the all-reduce tensor");
    std::vector<at::Tensor> v{t};
    c10d::AllreduceOptions o;
    o.reduceOp = op == 1 ? c10d::ReduceOp::AVG : c10d::ReduceOp::SUM;
    o.timeout = pg->timeout;
    pg->backend->allreduce(v, o)->wait();
  });
}

char* gs_broadcast(gs_pg* pg, void* tensor, int root) {
  return guarded([&] {
    at::Tensor& t = *static_cast<at::Tensor*>(tensor);
    check_tensor(t, "the broadcast tensor");
    std::vector<at::Tensor> v{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = pg->timeout;
    pg->backend->broadcast(v, o)->wait();
  });
}

// outputs: `n` tensors (n = world size) of the input's shape and dtype, filled in rank order.
char* gs_all_gather(gs_pg* pg, void* const* outputs, int n, void* input) {
  return guarded([&] {
    at::Tensor& in = *static_cast<at::Tensor*>(input);
    check_tensor(in, "the all-gather input");
    std::vector<at::Tensor> outs;
    for (int i = 0; i < n; i++) {
      at::Tensor& o = *static_cast<at::Tensor*>(outputs[i]);
      check_tensor(o, "an all-gather output");
      outs.push_back(o);
    }
    std::vector<std::vector<at::Tensor>> o{outs};
    std::vector<at::Tensor> i{in};
    c10d::AllgatherOptions opts;
    opts.timeout = pg->timeout;
    pg->backend->allgather(o, i, opts)->wait();
  });
}

char* gs_barrier(gs_pg* pg) {
  return guarded([&] {
    c10d::BarrierOptions o;
    o.timeout = pg->timeout;
    pg->backend->barrier(o)->wait();
  });
}

}  // extern "C"
