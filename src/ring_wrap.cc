#include "ring_wrap.h"

#include <string.h>
#include <time.h>
#include <uv.h>

#include <algorithm>
#include <string>

#include "aio_ring.h"
#include "aligned_alloc.h"
#include "napi_util.h"
#include "uring_ring.h"

namespace daio {

std::atomic<int64_t> NativeCounters::live_ops{0};
std::atomic<int64_t> NativeCounters::live_rings{0};

namespace {

// Fill data/len from an ArrayBufferView. Returns false if `v` is not one.
bool ViewSpan(napi_env env, napi_value v, void** data, size_t* len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) != napi_ok) return false;
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

// Errors after which a retry can succeed: the kernel is short of something
// for now, a signal arrived, or it reports dropped completions once (EBADR).
bool Transient(int err) {
  return err == -EAGAIN || err == -EBUSY || err == -EINTR || err == -EBADR || err == -ETIME;
}

void ReleaseHolds(PendingOp* op) {
  ReleaseAlignedHold(op->hold);
  op->hold = nullptr;
  for (void* h : op->more_holds) ReleaseAlignedHold(h);
  op->more_holds.clear();
}

void SleepMs(long ms) {
  struct timespec ts = {0, ms * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace

napi_value RingWrap::Init(napi_env env) {
  napi_property_descriptor props[] = {
      {"prep", nullptr, Prep, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"cancel", nullptr, Cancel, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"submit", nullptr, Submit, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default_method, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default_method, nullptr},
  };
  napi_value ctor = nullptr;
  if (napi_define_class(env, "Ring", NAPI_AUTO_LENGTH, New, nullptr, sizeof(props) / sizeof(props[0]), props,
                        &ctor) != napi_ok)
    return nullptr;
  return ctor;
}

RingWrap::RingWrap(napi_env env, Ring* ring) : env_(env), ring_(ring) {}

RingWrap::~RingWrap() {
  if (async_context_) napi_async_destroy(env_, async_context_);
  if (callback_ref_) napi_delete_reference(env_, callback_ref_);
  if (batch_ref_) napi_delete_reference(env_, batch_ref_);
  if (wrapper_) napi_delete_reference(env_, wrapper_);
}

RingWrap* RingWrap::Unwrap(napi_env env, napi_value self) {
  void* p = nullptr;
  if (!self || napi_unwrap(env, self, &p) != napi_ok) return nullptr;
  return static_cast<RingWrap*>(p);
}

// new Ring(backend: 'io_uring' | 'libaio', entries, batch: Float64Array, cb)
// Throws an Error with errno/syscall if the kernel refuses the ring. Nothing
// is counted or wrapped unless the ring exists.
napi_value RingWrap::New(napi_env env, napi_callback_info info) {
  Args<4> a;
  if (!a.Read(env, info)) return nullptr;
  napi_value target = nullptr;
  if (napi_get_new_target(env, info, &target) != napi_ok || !target) {
    ThrowError(env, "Ring must be called with new", true);
    return nullptr;
  }
  char backend[32] = {0};
  size_t blen = 0;
  uint32_t entries = 0;
  bool is_ta = false;
  napi_valuetype cbtype = napi_undefined;
  napi_typedarray_type tat = napi_int8_array;
  size_t ta_len = 0;
  void* ta_data = nullptr;
  napi_value ab;
  size_t ta_off = 0;
  if (a.argc < 4 || napi_get_value_string_utf8(env, a.argv[0], backend, sizeof(backend), &blen) != napi_ok ||
      !ArgUint32(env, a.argv[1], &entries) || napi_is_typedarray(env, a.argv[2], &is_ta) != napi_ok || !is_ta ||
      napi_typeof(env, a.argv[3], &cbtype) != napi_ok || cbtype != napi_function) {
    ThrowError(env, "Ring(backend, entries, batch, callback)", true);
    return nullptr;
  }
  if (napi_get_typedarray_info(env, a.argv[2], &tat, &ta_len, &ta_data, &ab, &ta_off) != napi_ok ||
      tat != napi_float64_array || ta_len < 2) {
    ThrowError(env, "batch must be a Float64Array", true);
    return nullptr;
  }

  int err = 0;
  const char* syscall_name = "";
  Ring* r = nullptr;
  std::string name(backend, blen);
  if (name == "io_uring") {
    r = UringRing::Create(entries, &err, &syscall_name);
  } else if (name == "libaio") {
    r = AioRing::Create(entries, &err, &syscall_name);
  } else {
    ThrowError(env, ("unknown backend " + name).c_str(), true);
    return nullptr;
  }
  if (!r) {
    ThrowError(env, strerror(-err), false, err, syscall_name);
    return nullptr;
  }
  std::unique_ptr<RingWrap> w(new RingWrap(env, r));
  w->batch_ = static_cast<double*>(ta_data);
  w->batch_pairs_ = ta_len / 2;
  w->scratch_.resize(w->batch_pairs_ > kDrainMax ? w->batch_pairs_ : kDrainMax);
  // The callback lives as a property of the wrapper object, not as a strong
  // persistent: a context the program dropped (and that has nothing in
  // flight) can then be collected, and its ring closed by the finalizer.
  // The weak reference reads it without running JS (getters could).
  napi_value resource = Obj(env), resource_name = nullptr;
  if (napi_set_named_property(env, a.self, "onBatch", a.argv[3]) != napi_ok ||
      napi_create_reference(env, a.argv[3], 0, &w->callback_ref_) != napi_ok ||
      napi_create_reference(env, a.argv[2], 1, &w->batch_ref_) != napi_ok || !resource ||
      napi_create_string_utf8(env, "direct-aio:ring", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, resource, resource_name, &w->async_context_) != napi_ok) {
    w->ring_->Close();
    return nullptr;
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
    w->ring_->Close();
    return nullptr;
  }
  w->poller_.reset(new CompletionPoller(env, loop, w->ring_->EventFd(), OnReadable, OnEnvCleanup, w.get()));
  if (w->poller_->Start() != 0) {
    w->poller_->Close();
    w->ring_->Close();
    ThrowError(env, "cannot watch the completion eventfd", false, -EINVAL, "uv_poll_start");
    return nullptr;
  }
  if (napi_wrap(env, a.self, w.get(), Finalize, nullptr, &w->wrapper_) != napi_ok) {
    w->poller_->Close();
    w->ring_->Close();
    return nullptr;
  }
  w->counted_ = true;
  NativeCounters::live_rings++;
  w.release();
  return a.self;
}

void RingWrap::Finalize(napi_env, void* data, void*) {
  // Reached with nothing outstanding (the wrapper holds a strong reference
  // to itself while the kernel has work), or at environment teardown.
  RingWrap* w = static_cast<RingWrap*>(data);
  w->Shutdown();
  delete w;
}

void RingWrap::Ref() {
  uint32_t n;
  if (wrapper_) napi_reference_ref(env_, wrapper_, &n);
}

void RingWrap::Unref() {
  uint32_t n;
  if (wrapper_) napi_reference_unref(env_, wrapper_, &n);
}

void RingWrap::UpdateLiveness(size_t before) {
  size_t now = Outstanding();
  if (before == 0 && now > 0) {
    if (poller_) poller_->Ref();
    if (!self_ref_) {
      Ref();
      self_ref_ = true;
    }
  } else if (before > 0 && now == 0) {
    if (poller_) poller_->Unref();
    if (self_ref_) {
      self_ref_ = false;
      Unref();
    }
  }
}

void RingWrap::SyncStaged() {
  if (!ring_) return;
  while (staged_.size() > ring_->Unsubmitted()) {
    Staged s = staged_.front();
    staged_.pop_front();
    if (s.cancel) continue;
    auto it = pending_.find(s.id);
    if (it != pending_.end() && !it->second->in_kernel) {
      it->second->in_kernel = true;
      in_kernel_++;
    }
  }
}

// prep(id, kind, fd, position, view, byteOffset, byteLength) -> 0 | -errno
// prep(id, kind, fd, position, views[])                      -> 0 | -errno
// Nothing reaches the kernel until submit().
napi_value RingWrap::Prep(napi_env env, napi_callback_info info) {
  Args<7> a;
  if (!a.Read(env, info)) return nullptr;
  RingWrap* w = Unwrap(env, a.self);
  if (!w) return nullptr;
  if (w->closed_) return Num(env, -EBADF);
  double idd;
  uint32_t kind;
  int32_t fd;
  int64_t position;
  if (!ArgDouble(env, a.argv[0], &idd) || !ArgUint32(env, a.argv[1], &kind) || !ArgInt32(env, a.argv[2], &fd) ||
      !ArgInt64(env, a.argv[3], &position) || idd < 0 || kind > OP_FDATASYNC)
    return Num(env, -EINVAL);
  uint64_t id = static_cast<uint64_t>(idd);
  if (w->pending_.count(id)) return Num(env, -EEXIST);

  // A spare node (see spare_), or a new one; given back below if the prep fails.
  PendingMap::node_type node;
  if (!w->spare_.empty()) {
    node = std::move(w->spare_.back());
    w->spare_.pop_back();
    node.key() = id;
  } else {
    PendingMap one;
    one.emplace(id, std::unique_ptr<PendingOp>(new PendingOp()));
    node = one.extract(one.begin());
  }
  PendingOp* op = node.mapped().get();
  op->iov.clear();  // a reused op keeps the capacity
  op->cancel_sent = false;
  op->in_kernel = false;
  struct Spare {  // on every early return: the node goes back to spare_
    RingWrap* w;
    PendingMap::node_type* node;
    ~Spare() {
      if (!node->empty() && w->spare_.size() < kSpareMax) w->spare_.push_back(std::move(*node));
    }
  } spare{w, &node};
  if (kind == OP_READ || kind == OP_WRITE) {
    napi_value target = a.argv[4];
    if (!target) return Num(env, -EFAULT);
    bool is_array = false;
    if (napi_is_array(env, target, &is_array) != napi_ok) return nullptr;
    if (is_array) {
      uint32_t n = 0;
      if (napi_get_array_length(env, target, &n) != napi_ok) return nullptr;
      op->iov.resize(n);
      for (uint32_t i = 0; i < n; i++) {
        napi_value el;
        if (napi_get_element(env, target, i, &el) != napi_ok) return nullptr;
        void* data;
        size_t len;
        if (!ViewSpan(env, el, &data, &len)) return Num(env, -EFAULT);
        op->iov[i].iov_base = data;
        op->iov[i].iov_len = len;
      }
    } else {
      void* data;
      size_t len;
      int64_t off, count;
      if (!ViewSpan(env, target, &data, &len)) return Num(env, -EFAULT);
      if (!ArgInt64(env, a.argv[5], &off) || !ArgInt64(env, a.argv[6], &count) || off < 0 || count < 0 ||
          static_cast<size_t>(off) > len || static_cast<size_t>(count) > len - static_cast<size_t>(off))
        return Num(env, -EFAULT);
      op->iov.resize(1);
      op->iov[0].iov_base = static_cast<char*>(data) + off;
      op->iov[0].iov_len = static_cast<size_t>(count);
    }
    if (napi_create_reference(env, target, 1, &op->ref) != napi_ok) return nullptr;
    for (size_t i = 0; i < op->iov.size(); i++) {
      void* h = HoldAlignedRange(op->iov[i].iov_base, op->iov[i].iov_len);
      if (h == nullptr) continue;
      if (op->hold == nullptr) op->hold = h;
      else op->more_holds.push_back(h);
    }
  }
  Op o;
  o.id = id;
  o.kind = kind;
  o.fd = fd;
  o.position = position;
  o.iov = op->iov.data();
  o.iovcnt = static_cast<uint32_t>(op->iov.size());
  o.scratch = &op->scratch;
  int r = w->ring_->Prep(o);
  if (r < 0) {
    ReleaseHolds(op);
    if (op->ref) napi_delete_reference(env, op->ref);
    op->ref = nullptr;
    w->SyncStaged();  // Prep may have submitted earlier entries for room
    return Num(env, r);
  }
  size_t before = w->Outstanding();
  w->pending_.insert(std::move(node));
  w->staged_.push_back(Staged{id, false});
  w->SyncStaged();
  NativeCounters::live_ops++;
  w->UpdateLiveness(before);
  return Num(env, 0);
}

// cancel(id) -> 0 (a cancel result will arrive) | -ENOENT (not in flight)
napi_value RingWrap::Cancel(napi_env env, napi_callback_info info) {
  Args<1> a;
  if (!a.Read(env, info)) return nullptr;
  RingWrap* w = Unwrap(env, a.self);
  if (!w) return nullptr;
  if (w->closed_) return Num(env, -EBADF);
  double idd;
  if (!ArgDouble(env, a.argv[0], &idd) || idd < 0) return Num(env, -EINVAL);
  uint64_t id = static_cast<uint64_t>(idd);
  auto it = w->pending_.find(id);
  if (it == w->pending_.end()) return Num(env, -ENOENT);
  if (it->second->cancel_sent) return Num(env, -EALREADY);
  size_t before = w->Outstanding();
  int r = w->ring_->PrepCancel(id, &it->second->scratch);
  if (r < 0) {
    w->SyncStaged();
    return Num(env, r);
  }
  it->second->cancel_sent = true;
  w->cancels_in_flight_++;
  if (w->ring_->CancelIsStaged()) w->staged_.push_back(Staged{id, true});
  w->SyncStaged();
  w->UpdateLiveness(before);
  return Num(env, 0);
}

// submit() -> number accepted, or -errno with requests still staged (EAGAIN,
// EBUSY, ...: call again later; see Ring::Submit in ring.h).
napi_value RingWrap::Submit(napi_env env, napi_callback_info info) {
  Args<0> a;
  if (!a.Read(env, info)) return nullptr;
  RingWrap* w = Unwrap(env, a.self);
  if (!w) return nullptr;
  if (w->closed_) return Num(env, -EBADF);
  int r = w->ring_->Submit();
  w->SyncStaged();
  return Num(env, r);
}

void RingWrap::Retire(PendingOp* op) {
  ReleaseHolds(op);
  if (op->ref) napi_delete_reference(env_, op->ref);
  op->ref = nullptr;
  if (op->in_kernel && in_kernel_ > 0) in_kernel_--;
  op->in_kernel = false;
  NativeCounters::live_ops--;
}

void RingWrap::RetireAndErase(PendingMap::iterator it) {
  Retire(it->second.get());
  PendingMap::node_type node = pending_.extract(it);
  if (spare_.size() < kSpareMax) spare_.push_back(std::move(node));
}

void RingWrap::OnReadable(void* self) { static_cast<RingWrap*>(self)->Dispatch(); }

// Drain the ring, up to kDispatchBudget completions. What one Drain()
// returns (up to kDrainMax) is retired at once, then handed to JS in batches
// of up to batch_pairs_, the answers to cancel requests first: JS never
// settles a request before the answer to its cancel that the same drain
// holds (stats would lag), and a small batch lets the microtask checkpoint
// after each call refill the ring before the next batch (see BATCH_PAIRS in
// lib/backends/native.ts). The eventfd is only a hint: reset it, then drain
// until empty or the budget is spent. The budget is what keeps the event
// loop turning: a read the kernel completes inside the submit (page-cache
// hits without O_DIRECT, on either ring) posts its completion before the
// next Drain(), so an await loop would otherwise be served inside this one
// callback forever and no timer or other I/O would ever run. Out of budget,
// signal the eventfd ourselves so that the next loop turn comes back for
// the rest.
void RingWrap::Dispatch() {
  if (closed_ || dispatching_) return;
  // One read resets a counter-mode eventfd; a second would only say EAGAIN.
  uint64_t counter;
  ssize_t rd = read(ring_->EventFd(), &counter, sizeof(counter));
  (void)rd;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  dispatching_ = true;
  bool stop = false;
  size_t delivered = 0;
  while (!stop) {
    if (delivered >= kDispatchBudget) {
      uint64_t one = 1;
      ssize_t wr = write(ring_->EventFd(), &one, sizeof(one));
      (void)wr;  // EAGAIN only if the counter is near overflow: it is readable then anyway
      break;
    }
    size_t room = kDispatchBudget - delivered;
    size_t n = ring_->Drain(scratch_.data(), room < scratch_.size() ? room : scratch_.size());
    if (n == 0) break;
    delivered += n;
    std::stable_partition(scratch_.begin(), scratch_.begin() + n, [](const Completion& c) { return c.cancel; });
    size_t before = Outstanding();
    for (size_t i = 0; i < n; i++) {
      const Completion& c = scratch_[i];
      if (c.cancel) {
        if (cancels_in_flight_ > 0) cancels_in_flight_--;
      } else {
        auto it = pending_.find(c.id);
        if (it != pending_.end()) RetireAndErase(it);
      }
    }
    // Keep ourselves alive across the calls into JS even if the last
    // outstanding op just completed; JS may call close() from in there.
    bool was_ref = self_ref_;
    if (!was_ref) Ref();
    UpdateLiveness(before);
    for (size_t off = 0; off < n && !stop; off += batch_pairs_) {
      size_t m = n - off < batch_pairs_ ? n - off : batch_pairs_;
      for (size_t i = 0; i < m; i++) {
        const Completion& c = scratch_[off + i];
        batch_[2 * i] = c.cancel ? -static_cast<double>(c.id) - 1 : static_cast<double>(c.id);
        batch_[2 * i + 1] = static_cast<double>(c.res);
      }
      napi_value cb = nullptr, recv, argv[1], result;
      bool can_run = napi_get_reference_value(env_, callback_ref_, &cb) == napi_ok && cb != nullptr &&
                     napi_get_global(env_, &recv) == napi_ok &&
                     napi_create_double(env_, static_cast<double>(m), &argv[0]) == napi_ok;
      if (can_run) {
        napi_status st = napi_make_callback(env_, async_context_, recv, cb, 1, argv, &result);
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
      if (closed_ || !can_run) stop = true;
    }
    if (!was_ref) Unref();
  }
  dispatching_ = false;
  napi_close_handle_scope(env_, scope);
}

void RingWrap::DrainBlocking() {
  if (!ring_) return;
  // Ask the kernel to cancel what it holds, one request per id: every kernel
  // with io_uring knows that form (cancel flags need 5.19).
  for (auto& kv : pending_) {
    PendingOp* op = kv.second.get();
    if (op->cancel_sent) continue;
    if (ring_->PrepCancel(kv.first, &op->scratch) == 0) {
      op->cancel_sent = true;
      cancels_in_flight_++;
      if (ring_->CancelIsStaged()) staged_.push_back(Staged{kv.first, true});
    }
    SyncStaged();
  }
  // Wait until every operation the kernel accepted has completed. Staged
  // ones are handed over too (their cancels follow them); if the kernel
  // keeps refusing them and nothing else is in the kernel, they never
  // reached it and may be released.
  const int kStagedRetries = 200;
  int staged_failures = 0;
  for (;;) {
    size_t n = ring_->Drain(scratch_.data(), batch_pairs_);
    for (size_t i = 0; i < n; i++) {
      const Completion& c = scratch_[i];
      if (c.cancel) {
        if (cancels_in_flight_ > 0) cancels_in_flight_--;
        continue;
      }
      auto it = pending_.find(c.id);
      if (it != pending_.end()) RetireAndErase(it);
    }
    if (n > 0) continue;
    if (ring_->Unsubmitted() > 0 && staged_failures < kStagedRetries) {
      int r = ring_->Submit();
      SyncStaged();
      if (ring_->Unsubmitted() > 0) {
        if (!Transient(r)) staged_failures = kStagedRetries;
        else if (in_kernel_ == 0) {
          staged_failures++;
          SleepMs(1);
          continue;
        }
      }
    }
    if (in_kernel_ == 0) break;
    int r = ring_->Wait();
    if (r < 0) {
      if (!Transient(r)) break;  // the ring is unusable: Shutdown leaks what is in the kernel
      SleepMs(1);
    }
  }
}

void RingWrap::Shutdown() {
  if (closed_) return;
  DrainBlocking();
  closed_ = true;
  if (poller_) poller_->Close();
  if (ring_) ring_->Close();
  for (auto& kv : pending_) {
    if (kv.second->in_kernel) {
      // The kernel may still write through this buffer: never release it.
      // Its reference (and the iovec array) are leaked on purpose and it
      // stays counted in liveOps.
      kv.second.release();
    } else {
      Retire(kv.second.get());  // staged, never accepted by the kernel
    }
  }
  pending_.clear();
  staged_.clear();
  in_kernel_ = 0;
  cancels_in_flight_ = 0;
  if (self_ref_) {
    self_ref_ = false;
    Unref();
  }
  if (counted_) {
    counted_ = false;
    NativeCounters::live_rings--;
  }
}

// close(): waits (blocking) for anything still in the kernel. The JS layer
// drains first, so normally nothing is.
napi_value RingWrap::Close(napi_env env, napi_callback_info info) {
  Args<0> a;
  if (!a.Read(env, info)) return nullptr;
  RingWrap* w = Unwrap(env, a.self);
  if (w) w->Shutdown();
  return nullptr;
}

// Buffers belong to an isolate that is going away: the kernel must be done
// with them before this returns. No JS runs from here on.
void RingWrap::OnEnvCleanup(void* self) { static_cast<RingWrap*>(self)->Shutdown(); }

// stats() -> { pending, liveOps, liveRings }
napi_value RingWrap::Stats(napi_env env, napi_callback_info info) {
  Args<0> a;
  if (!a.Read(env, info)) return nullptr;
  RingWrap* w = Unwrap(env, a.self);
  if (!w) return nullptr;
  napi_value o = Obj(env);
  SetNum(env, o, "pending", static_cast<double>(w->pending_.size()));
  SetNum(env, o, "liveOps", static_cast<double>(NativeCounters::live_ops.load()));
  SetNum(env, o, "liveRings", static_cast<double>(NativeCounters::live_rings.load()));
  return o;
}

}  // namespace daio
