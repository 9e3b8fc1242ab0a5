#include "ring_wrap.h"

#include <string.h>
#include <uv.h>

#include "aio_ring.h"
#include "uring_ring.h"

namespace daio {

std::atomic<int64_t> NativeCounters::live_ops{0};
std::atomic<int64_t> NativeCounters::live_rings{0};

namespace {

// Fill iov from an ArrayBufferView. Returns false if `v` is not one.
bool ViewSpan(napi_env env, napi_value v, void** data, size_t* len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) !=
        napi_ok)
      return false;
    size_t el = 1;
    switch (type) {
      case napi_int16_array:
      case napi_uint16_array:
        el = 2;
        break;
      case napi_int32_array:
      case napi_uint32_array:
      case napi_float32_array:
        el = 4;
        break;
      case napi_float64_array:
      case napi_bigint64_array:
      case napi_biguint64_array:
        el = 8;
        break;
      default:
        el = 1;
    }
    *len = length * el;
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    return napi_get_dataview_info(env, v, len, data, &ab, &offset) == napi_ok;
  }
  return false;
}

}  // namespace

Napi::Function RingWrap::Init(Napi::Env env) {
  return DefineClass(env, "Ring",
                     {
                         InstanceMethod<&RingWrap::Prep>("prep"),
                         InstanceMethod<&RingWrap::Cancel>("cancel"),
                         InstanceMethod<&RingWrap::Submit>("submit"),
                         InstanceMethod<&RingWrap::Close>("close"),
                         InstanceMethod<&RingWrap::Stats>("stats"),
                     });
}

// new Ring(backend: 'io_uring' | 'libaio', entries, batch: Float64Array, cb)
// Throws an Error with errno/syscall if the kernel refuses the ring.
RingWrap::RingWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<RingWrap>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsNumber() ||
      !info[2].IsTypedArray() || !info[3].IsFunction()) {
    Napi::TypeError::New(env, "Ring(backend, entries, batch, callback)")
        .ThrowAsJavaScriptException();
    return;
  }
  std::string backend = info[0].As<Napi::String>().Utf8Value();
  unsigned entries = info[1].As<Napi::Number>().Uint32Value();
  Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_float64_array || ta.ElementLength() < 2) {
    Napi::TypeError::New(env, "batch must be a Float64Array")
        .ThrowAsJavaScriptException();
    return;
  }
  Napi::Float64Array batch = info[2].As<Napi::Float64Array>();
  batch_ = batch.Data();
  batch_pairs_ = batch.ElementLength() / 2;
  batch_ref_ = Napi::Persistent(batch);
  scratch_.resize(batch_pairs_);
  // The callback lives as a property of the wrapper object, not as a strong
  // persistent: a context the program dropped (and that has nothing in
  // flight) can then be collected, and its ring closed by the finalizer.
  info.This().As<Napi::Object>().Set("onBatch", info[3]);

  int err = 0;
  const char* syscall_name = "";
  Ring* r = nullptr;
  if (backend == "io_uring") {
    r = UringRing::Create(entries, &err, &syscall_name);
  } else if (backend == "libaio") {
    r = AioRing::Create(entries, &err, &syscall_name);
  } else {
    Napi::TypeError::New(env, "unknown backend " + backend)
        .ThrowAsJavaScriptException();
    return;
  }
  if (!r) {
    Napi::Error e = Napi::Error::New(env, strerror(-err));
    e.Set("errno", Napi::Number::New(env, err));
    e.Set("syscall", Napi::String::New(env, syscall_name));
    e.ThrowAsJavaScriptException();
    return;
  }
  ring_.reset(r);
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poller_.reset(new CompletionPoller(env, loop, ring_->EventFd(), OnReadable,
                                     OnEnvCleanup, this));
  if (poller_->Start() != 0) {
    ring_->Close();
    ring_.reset();
    Napi::Error e = Napi::Error::New(env, "cannot watch the completion eventfd");
    e.Set("errno", Napi::Number::New(env, -EINVAL));
    e.Set("syscall", Napi::String::New(env, "uv_poll_start"));
    e.ThrowAsJavaScriptException();
    return;
  }
  async_context_.reset(new Napi::AsyncContext(env, "direct-aio:ring"));
  // A weak reference: the function stays alive through the wrapper's
  // onBatch property, and is read without running JS (getters could).
  napi_create_reference(env, info[3], 0, &callback_ref_);
  NativeCounters::live_rings++;
}

RingWrap::~RingWrap() {
  // Reached only with nothing outstanding: the wrapper holds a strong
  // reference to itself while the kernel has work (UpdateLiveness).
  if (!closed_) {
    if (!pending_.empty()) DrainBlocking();
    Teardown();
  }
  if (callback_ref_) napi_delete_reference(env_, callback_ref_);
}

void RingWrap::UpdateLiveness(size_t before) {
  size_t now = Outstanding();
  if (before == 0 && now > 0) {
    poller_->Ref();
    if (!self_ref_) {
      Ref();
      self_ref_ = true;
    }
  } else if (before > 0 && now == 0) {
    poller_->Unref();
    if (self_ref_) {
      self_ref_ = false;
      Unref();
    }
  }
}

// prep(id, kind, fd, position, view, byteOffset, byteLength) -> 0 | -errno
// prep(id, kind, fd, position, views[])                      -> 0 | -errno
// Nothing reaches the kernel until submit().
Napi::Value RingWrap::Prep(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (closed_) return Napi::Number::New(env, -EBADF);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
  uint32_t kind = info[1].As<Napi::Number>().Uint32Value();
  int fd = info[2].As<Napi::Number>().Int32Value();
  int64_t position = info[3].As<Napi::Number>().Int64Value();
  if (pending_.count(id)) return Napi::Number::New(env, -EEXIST);

  std::unique_ptr<PendingOp> op(new PendingOp());
  if (kind == OP_READ || kind == OP_WRITE) {
    napi_value target = info[4];
    bool is_array = false;
    napi_is_array(env, target, &is_array);
    if (is_array) {
      uint32_t n = 0;
      napi_get_array_length(env, target, &n);
      op->iov.resize(n);
      for (uint32_t i = 0; i < n; i++) {
        napi_value el;
        napi_get_element(env, target, i, &el);
        void* data;
        size_t len;
        if (!ViewSpan(env, el, &data, &len))
          return Napi::Number::New(env, -EFAULT);
        op->iov[i].iov_base = data;
        op->iov[i].iov_len = len;
      }
    } else {
      void* data;
      size_t len;
      if (!ViewSpan(env, target, &data, &len))
        return Napi::Number::New(env, -EFAULT);
      size_t off = info[5].As<Napi::Number>().Int64Value();
      size_t count = info[6].As<Napi::Number>().Int64Value();
      if (off > len || count > len - off) return Napi::Number::New(env, -EFAULT);
      op->iov.resize(1);
      op->iov[0].iov_base = static_cast<char*>(data) + off;
      op->iov[0].iov_len = count;
    }
    napi_create_reference(env, target, 1, &op->ref);
  }
  Op o;
  o.id = id;
  o.kind = kind;
  o.fd = fd;
  o.position = position;
  o.iov = op->iov.data();
  o.iovcnt = static_cast<uint32_t>(op->iov.size());
  o.scratch = &op->scratch;
  int r = ring_->Prep(o);
  if (r < 0) {
    if (op->ref) napi_delete_reference(env, op->ref);
    return Napi::Number::New(env, r);
  }
  size_t before = Outstanding();
  pending_.emplace(id, std::move(op));
  NativeCounters::live_ops++;
  UpdateLiveness(before);
  return Napi::Number::New(env, 0);
}

// cancel(id) -> 0 (a cancel result will arrive) | -ENOENT (not in flight)
Napi::Value RingWrap::Cancel(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (closed_) return Napi::Number::New(env, -EBADF);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
  auto it = pending_.find(id);
  if (it == pending_.end()) return Napi::Number::New(env, -ENOENT);
  if (it->second->cancel_sent) return Napi::Number::New(env, -EALREADY);
  size_t before = Outstanding();
  int r = ring_->PrepCancel(id, &it->second->scratch);
  if (r < 0) return Napi::Number::New(env, r);
  it->second->cancel_sent = true;
  cancels_in_flight_++;
  UpdateLiveness(before);
  return Napi::Number::New(env, 0);
}

// submit() -> number accepted | -errno
Napi::Value RingWrap::Submit(const Napi::CallbackInfo& info) {
  if (closed_) return Napi::Number::New(info.Env(), -EBADF);
  int r = ring_->Submit();
  if (r > 0) submitted_total_ += r;
  return Napi::Number::New(info.Env(), r);
}

void RingWrap::Retire(PendingOp* op) {
  if (op->ref) napi_delete_reference(env_, op->ref);
  op->ref = nullptr;
  NativeCounters::live_ops--;
}

void RingWrap::OnReadable(void* self) { static_cast<RingWrap*>(self)->Dispatch(); }

// Drain the ring completely, one JS call per batch of up to batch_pairs_.
// The eventfd is only a hint: reset it, then drain until empty.
void RingWrap::Dispatch() {
  if (closed_ || dispatching_) return;
  // One read resets a counter-mode eventfd; a second would only say EAGAIN.
  uint64_t counter;
  ssize_t rd = read(ring_->EventFd(), &counter, sizeof(counter));
  (void)rd;
  // Raw napi_* calls with status checks only: during environment teardown
  // (worker.terminate()) this can run when JS no longer can, and the
  // throwing node-addon-api wrappers would abort the process.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  dispatching_ = true;
  for (;;) {
    size_t n = ring_->Drain(scratch_.data(), batch_pairs_);
    if (n == 0) break;
    size_t before = Outstanding();
    for (size_t i = 0; i < n; i++) {
      const Completion& c = scratch_[i];
      if (c.cancel) {
        if (cancels_in_flight_ > 0) cancels_in_flight_--;
        batch_[2 * i] = -static_cast<double>(c.id) - 1;
      } else {
        auto it = pending_.find(c.id);
        if (it != pending_.end()) {
          Retire(it->second.get());
          pending_.erase(it);
        }
        completed_total_++;
        batch_[2 * i] = static_cast<double>(c.id);
      }
      batch_[2 * i + 1] = static_cast<double>(c.res);
    }
    // Keep ourselves alive across the call into JS even if the last
    // outstanding op just completed; JS may call close() from in there.
    bool was_ref = self_ref_;
    if (!was_ref) Ref();
    UpdateLiveness(before);
    napi_value cb = nullptr, recv, argv[1], result;
    bool can_run = napi_get_reference_value(env_, callback_ref_, &cb) == napi_ok &&
                   cb != nullptr && napi_get_global(env_, &recv) == napi_ok &&
                   napi_create_double(env_, static_cast<double>(n), &argv[0]) == napi_ok;
    if (can_run) {
      napi_status st = napi_make_callback(
          env_, static_cast<napi_async_context>(*async_context_), recv, cb, 1,
          argv, &result);
      if (st != napi_ok) {
        bool pending = false;
        napi_is_exception_pending(env_, &pending);
        if (pending) {
          napi_value exc;
          napi_get_and_clear_last_exception(env_, &exc);
          napi_fatal_exception(env_, exc);
        } else {
          can_run = false;  // the environment is shutting down
        }
      }
    }
    if (!was_ref) Unref();
    if (closed_ || !can_run) break;
  }
  dispatching_ = false;
  napi_close_handle_scope(env_, scope);
}

void RingWrap::DrainBlocking() {
  if (!ring_) return;
  ring_->Submit();
  ring_->CancelAll();
  while (Outstanding() > 0) {
    size_t n = ring_->Drain(scratch_.data(), batch_pairs_);
    if (n == 0) {
      if (ring_->Unsubmitted() > 0 && ring_->Submit() < 0) {
        // Could not hand them over; they never reached the kernel.
        break;
      }
      if (ring_->Wait() < 0) break;
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      const Completion& c = scratch_[i];
      if (c.cancel) {
        if (cancels_in_flight_ > 0) cancels_in_flight_--;
        continue;
      }
      auto it = pending_.find(c.id);
      if (it != pending_.end()) {
        Retire(it->second.get());
        pending_.erase(it);
      }
    }
  }
}

void RingWrap::Teardown() {
  if (closed_) return;
  closed_ = true;
  if (poller_) poller_->Close();
  if (ring_) ring_->Close();
  // Ops still listed here never reached the kernel (submit failed).
  for (auto& kv : pending_) Retire(kv.second.get());
  pending_.clear();
  cancels_in_flight_ = 0;
  if (self_ref_) {
    self_ref_ = false;
    Unref();
  }
  NativeCounters::live_rings--;
}

// close(): waits (blocking) for anything still outstanding. The JS layer
// drains first, so normally nothing is.
Napi::Value RingWrap::Close(const Napi::CallbackInfo& info) {
  if (!closed_) {
    DrainBlocking();
    Teardown();
  }
  return info.Env().Undefined();
}

void RingWrap::OnEnvCleanup(void* arg) {
  RingWrap* self = static_cast<RingWrap*>(arg);
  if (self->closed_) return;
  // Buffers belong to an isolate that is going away: the kernel must be done
  // with them before this returns. No JS runs from here on.
  self->DrainBlocking();
  self->closed_ = true;
  if (self->poller_) self->poller_->Close();
  if (self->ring_) self->ring_->Close();
  for (auto& kv : self->pending_) self->Retire(kv.second.get());
  self->pending_.clear();
  self->cancels_in_flight_ = 0;
  NativeCounters::live_rings--;
}

Napi::Value RingWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", Napi::String::New(env, ring_ ? ring_->Name() : "closed"));
  o.Set("pending", Napi::Number::New(env, static_cast<double>(pending_.size())));
  o.Set("cancels", Napi::Number::New(env, static_cast<double>(cancels_in_flight_)));
  o.Set("submitted", Napi::Number::New(env, static_cast<double>(submitted_total_)));
  o.Set("completed", Napi::Number::New(env, static_cast<double>(completed_total_)));
  o.Set("liveOps", Napi::Number::New(env, static_cast<double>(NativeCounters::live_ops.load())));
  o.Set("liveRings", Napi::Number::New(env, static_cast<double>(NativeCounters::live_rings.load())));
  return o;
}

}  // namespace daio
