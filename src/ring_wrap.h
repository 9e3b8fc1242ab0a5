// N-API glue for a Ring: type checks, buffer references, and delivery of
// completion batches to JS. Policy (queueing, cancellation, errors) is JS's.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <unordered_map>
#include <vector>

#include "completion_poller.h"
#include "ring.h"

namespace daio {

// One submitted operation. It owns everything the kernel reads or writes
// through: a strong reference to the JS buffer(s), and the iovec array.
struct PendingOp {
  napi_ref ref = nullptr;
  std::vector<struct iovec> iov;
  OpScratch scratch;
  bool cancel_sent = false;
};

class RingWrap : public Napi::ObjectWrap<RingWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit RingWrap(const Napi::CallbackInfo& info);
  ~RingWrap() override;

 private:
  Napi::Value Prep(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

  static void OnReadable(void* self);
  static void OnEnvCleanup(void* self);
  void Dispatch();
  void Retire(PendingOp* op);
  void UpdateLiveness(size_t before);
  // Cancel everything, wait for every completion without calling JS, then
  // free the ring. Used by close() with work outstanding and at env exit.
  void DrainBlocking();
  void Teardown();
  size_t Outstanding() const { return pending_.size() + cancels_in_flight_; }

  napi_env env_;
  std::unique_ptr<Ring> ring_;
  std::unique_ptr<CompletionPoller> poller_;
  std::unordered_map<uint64_t, std::unique_ptr<PendingOp>> pending_;
  size_t cancels_in_flight_ = 0;
  Napi::Reference<Napi::Float64Array> batch_ref_;
  double* batch_ = nullptr;
  size_t batch_pairs_ = 0;
  std::vector<Completion> scratch_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  bool dispatching_ = false;
  bool closed_ = false;
  napi_ref callback_ref_ = nullptr;
  bool self_ref_ = false;
  uint64_t submitted_total_ = 0;
  uint64_t completed_total_ = 0;
};

// Live native allocations, for leak checks (stats().native).
struct NativeCounters {
  static std::atomic<int64_t> live_ops;
  static std::atomic<int64_t> live_rings;
};

}  // namespace daio
