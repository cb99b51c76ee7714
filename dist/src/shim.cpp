// C shim over libtorch's c10d (the engine behind torch.distributed): stores, the Gloo process group and the
// collectives gscript uses. Every function catches C++ exceptions and returns them as a malloc'd error string
// (NULL on success) so nothing is thrown across the FFI boundary. Tensors are tch's `at::Tensor*`.
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/custom_function.h>

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

// Synchronised batch norm (PyTorch's SyncBatchNorm on c10d): one all-reduce (SUM) of [count, Σx, Σx²] per channel in
// forward, one of [c·Σdy, c·Σdy·x̂] in backward. Statistics are reduced in fp64 from each rank's fp32 Welford mean and
// variance. The backward weights each rank's sums by its local count c and divides by the rank's own count (see
// ProcessGroup::sync_batch_norm in lib.rs: with equal shards this is PyTorch's formula; with unequal shards it makes
// DataParallel's count-weighted average of the ranks' gradients the gradient of the global mean loss).
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::vector<int64_t> reduce_dims(const at::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); d++) dims.push_back(d);
  return dims;
}

// (C) → (1, C, 1, …) to broadcast against x.
at::Tensor per_channel(const at::Tensor& v, const at::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = v.numel();
  return v.reshape(shape);
}

at::Tensor as_float(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble || t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
}

void all_reduce_sum(const c10::intrusive_ptr<c10d::Backend>& backend, int64_t timeout_ms, at::Tensor& t) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = std::chrono::milliseconds(timeout_ms);
  backend->allreduce(v, o)->wait();
}

struct SyncBatchNorm : public torch::autograd::Function<SyncBatchNorm> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor input, at::Tensor weight, at::Tensor bias,
                            at::Tensor running_mean, at::Tensor running_var, double momentum, double eps,
                            c10::intrusive_ptr<c10d::Backend> backend, int64_t timeout_ms) {
    const int64_t channels = input.size(1);
    const at::Tensor x = as_float(input.contiguous());
    const auto dims = reduce_dims(x);
    const int64_t local = channels > 0 ? x.numel() / channels : 0;
    auto dopt = x.options().dtype(at::kDouble);
    at::Tensor stats;
    if (local > 0) {
      auto vm = at::var_mean(x, dims, c10::Scalar(0), false);
      at::Tensor var = std::get<0>(vm).to(at::kDouble), mean = std::get<1>(vm).to(at::kDouble);
      stats = at::cat({at::full({1}, static_cast<double>(local), dopt), mean * local,
                       (var + mean * mean) * local});
    } else {
      stats = at::zeros({2 * channels + 1}, dopt);
    }
    all_reduce_sum(backend, timeout_ms, stats);
    const double total = stats[0].item<double>();
    if (total <= 1) {
      throw std::runtime_error("expected more than 1 value per channel over all ranks when training, got " +
                               std::to_string(static_cast<int64_t>(total)));
    }
    at::Tensor mean = stats.narrow(0, 1, channels) / total;
    at::Tensor var = (stats.narrow(0, 1 + channels, channels) / total - mean * mean).clamp_min(0);
    {
      at::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_((mean * momentum).to(running_mean.scalar_type()));
      running_var.mul_(1 - momentum).add_((var * (total / (total - 1)) * momentum).to(running_var.scalar_type()));
    }
    at::Tensor invstd = (var + eps).rsqrt().to(x.scalar_type());
    mean = mean.to(x.scalar_type());
    const at::Tensor w = weight.to(x.scalar_type());
    const at::Tensor scale = invstd * w;
    const at::Tensor shift = bias.to(x.scalar_type()) - mean * scale;
    at::Tensor out = (x * per_channel(scale, x) + per_channel(shift, x)).to(input.scalar_type());
    ctx->save_for_backward({x, w, mean, invstd});
    ctx->saved_data["local"] = local;
    ctx->saved_data["total"] = total;
    ctx->saved_data["timeout_ms"] = timeout_ms;
    ctx->saved_data["backend"] = at::IValue::make_capsule(backend);
    ctx->saved_data["kinds"] = std::vector<int64_t>{static_cast<int64_t>(input.scalar_type()),
                                                   static_cast<int64_t>(weight.scalar_type()),
                                                   static_cast<int64_t>(bias.scalar_type())};
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &mean = saved[2], &invstd = saved[3];
    const double local = static_cast<double>(ctx->saved_data["local"].toInt());
    const double total = ctx->saved_data["total"].toDouble();
    const int64_t timeout_ms = ctx->saved_data["timeout_ms"].toInt();
    auto backend = c10::static_intrusive_pointer_cast<c10d::Backend>(ctx->saved_data["backend"].toCapsule());
    const auto kinds = ctx->saved_data["kinds"].toIntVector();
    const int64_t channels = x.size(1);
    const auto dims = reduce_dims(x);
    const at::Tensor dy = grad_outputs[0].to(x.scalar_type()).contiguous();
    const at::Tensor xhat = (x - per_channel(mean, x)) * per_channel(invstd, x);
    const at::Tensor sum_dy = dy.sum(dims);
    const at::Tensor sum_dy_xhat = (dy * xhat).sum(dims);
    at::Tensor grad_input, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      // Every rank takes part (the graph, hence needs_input_grad, is the same on every rank).
      at::Tensor sums = at::cat({sum_dy, sum_dy_xhat}).to(at::kDouble) * local;
      // The engine rethrows this from backward() (tch: an Err of f_backward); say what failed and where.
      const std::string where = "rank " + std::to_string(backend->getRank()) + ": sync_batch_norm backward: all_reduce failed: ";
      try {
        all_reduce_sum(backend, timeout_ms, sums);
      } catch (const c10::Error& e) {
        throw std::runtime_error(where + e.what_without_backtrace());
      } catch (const std::exception& e) {
        throw std::runtime_error(where + e.what());
      }
      if (local > 0) {
        sums = (sums / (local * total)).to(x.scalar_type());
        const at::Tensor mean_dy = sums.narrow(0, 0, channels), mean_dy_xhat = sums.narrow(0, channels, channels);
        grad_input = ((dy - per_channel(mean_dy, x) - xhat * per_channel(mean_dy_xhat, x)) *
                      per_channel(invstd * w, x))
                         .to(static_cast<at::ScalarType>(kinds[0]));
      } else {
        grad_input = at::zeros_like(x).to(static_cast<at::ScalarType>(kinds[0]));
      }
    }
    if (ctx->needs_input_grad(1)) grad_weight = sum_dy_xhat.to(static_cast<at::ScalarType>(kinds[1]));
    if (ctx->needs_input_grad(2)) grad_bias = sum_dy.to(static_cast<at::ScalarType>(kinds[2]));
    // One entry per argument of forward: input, weight, bias, running_mean, running_var, momentum, eps, backend,
    // timeout.
    return {grad_input, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

// Training-mode batch norm of `input` (N, C, *) with batch statistics over every rank's batch; updates the running
// statistics in place; `out` receives a new tensor (tch takes ownership).
char* gs_sync_batch_norm(gs_pg* pg, void* input, void* weight, void* bias, void* running_mean, void* running_var,
                         double momentum, double eps, void** out) {
  *out = nullptr;
  return guarded([&] {
    const at::Tensor& x = *static_cast<at::Tensor*>(input);
    const at::Tensor& w = *static_cast<at::Tensor*>(weight);
    const at::Tensor& b = *static_cast<at::Tensor*>(bias);
    const at::Tensor& rm = *static_cast<at::Tensor*>(running_mean);
    const at::Tensor& rv = *static_cast<at::Tensor*>(running_var);
    const char* names[] = {"the input", "the weight", "the bias", "the running mean", "the running variance"};
    const at::Tensor* all[] = {&x, &w, &b, &rm, &rv};
    for (int i = 0; i < 5; i++) {
      if (!all[i]->defined()) throw std::runtime_error(std::string(names[i]) + " is an undefined tensor");
    }
    if (x.dim() < 2) throw std::runtime_error("the input must be (N, C, ...), got " + std::to_string(x.dim()) + " dimensions");
    const int64_t c = x.size(1);
    for (int i = 1; i < 5; i++) {
      if (all[i]->dim() != 1 || all[i]->size(0) != c) {
        throw std::runtime_error(std::string(names[i]) + " must have " + std::to_string(c) + " elements (the input's channels)");
      }
    }
    if (!rm.is_floating_point() || !rv.is_floating_point()) throw std::runtime_error("the running statistics must be floating point");
    at::Tensor result = SyncBatchNorm::apply(x, w, b, rm, rv, momentum, eps, pg->backend,
                                             static_cast<int64_t>(pg->timeout.count()));
    *out = new at::Tensor(std::move(result));
  });
}

}  // extern "C"
