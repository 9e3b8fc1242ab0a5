// Node-API glue for a Ring: type checks, buffer references, and delivery of
// completion batches to JS. Policy (queueing, cancellation, errors) is JS's.
// Raw napi_* calls only (see napi_util.h): every entry point survives an
// environment that can no longer run JS.
#pragma once

#include <node_api.h>

#include <atomic>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "completion_poller.h"
#include "ring.h"

namespace daio {

// One operation staged or submitted. It owns everything the kernel reads or
// writes through: a strong reference to the JS buffer(s), and the iovec array.
struct PendingOp {
  napi_ref ref = nullptr;
  std::vector<struct iovec> iov;
  // allocAligned memory the iovecs point into, held from prep to retirement
  // (HoldAlignedRange): the view may be detached and collected meanwhile.
  void* hold = nullptr;             // the first iovec's
  std::vector<void*> more_holds;    // the others' (vectored requests)
  OpScratch scratch;
  bool cancel_sent = false;
  // Accepted by the kernel: released only once its completion is seen.
  bool in_kernel = false;
};

class RingWrap {
 public:
  // The Ring constructor function, or nullptr.
  static napi_value Init(napi_env env);

  ~RingWrap();

 private:
  RingWrap(napi_env env, Ring* ring);

  static napi_value New(napi_env env, napi_callback_info info);
  static napi_value Prep(napi_env env, napi_callback_info info);
  static napi_value Cancel(napi_env env, napi_callback_info info);
  static napi_value Submit(napi_env env, napi_callback_info info);
  static napi_value Close(napi_env env, napi_callback_info info);
  static napi_value Stats(napi_env env, napi_callback_info info);
  static void Finalize(napi_env env, void* data, void* hint);
  static RingWrap* Unwrap(napi_env env, napi_value self);

  static void OnReadable(void* self);
  static void OnEnvCleanup(void* self);
  void Dispatch();
  void Retire(PendingOp* op);
  void Ref();
  void Unref();
  void UpdateLiveness(size_t before);
  // Mark staged requests the kernel has accepted since the last call.
  void SyncStaged();
  // The one teardown path (close(), environment exit, finalizer): cancel
  // everything, wait without calling JS until the kernel has completed every
  // operation it accepted, then free the ring. Operations the kernel never
  // accepted are released; none it accepted is released before its
  // completion (if the ring fails for good while some are in the kernel,
  // their buffers are leaked instead).
  void Shutdown();
  void DrainBlocking();
  size_t Outstanding() const { return pending_.size() + cancels_in_flight_; }
  // The most completions one Drain() takes (they are handed to JS in batches of batch_pairs_).
  static constexpr size_t kDrainMax = 1024;
  // The most completions one Dispatch() hands to JS before it returns to the event loop.
  static constexpr size_t kDispatchBudget = 512;

  struct Staged {
    uint64_t id;
    bool cancel;
  };

  napi_env env_;
  napi_ref wrapper_ = nullptr;  // weak, or strong while work is outstanding
  std::unique_ptr<Ring> ring_;
  std::unique_ptr<CompletionPoller> poller_;
  using PendingMap = std::unordered_map<uint64_t, std::unique_ptr<PendingOp>>;
  PendingMap pending_;
  // Retired entries of pending_, map node and PendingOp together, for the next
  // Prep to reuse: an op in flight then costs no malloc or free (the iovec
  // vector keeps its capacity too). At most kSpareMax are kept.
  std::vector<PendingMap::node_type> spare_;
  static constexpr size_t kSpareMax = 1024;
  // Retire the op of `it` and erase it from pending_, keeping its node spare.
  void RetireAndErase(PendingMap::iterator it);
  std::deque<Staged> staged_;  // staged, in order, not yet accepted
  size_t in_kernel_ = 0;       // ops accepted whose completion is not seen yet
  size_t cancels_in_flight_ = 0;
  napi_ref batch_ref_ = nullptr;
  double* batch_ = nullptr;
  size_t batch_pairs_ = 0;
  std::vector<Completion> scratch_;
  napi_async_context async_context_ = nullptr;
  napi_ref callback_ref_ = nullptr;
  bool dispatching_ = false;
  bool closed_ = false;
  bool self_ref_ = false;
  bool counted_ = false;  // counted in live_rings
};

// Live native allocations, for leak checks (stats().native).
struct NativeCounters {
  static std::atomic<int64_t> live_ops;
  static std::atomic<int64_t> live_rings;
};

}  // namespace daio
