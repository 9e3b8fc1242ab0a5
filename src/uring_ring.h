// io_uring backend over raw syscalls.
#pragma once

#include <vector>

#include "ring.h"
#include "sys.h"

namespace daio {

class UringRing : public Ring {
 public:
  // Returns nullptr and sets *err (negative errno) and *syscall_name on failure.
  static UringRing* Create(unsigned entries, int* err, const char** syscall_name);
  ~UringRing() override;

  const char* Name() const override { return "io_uring"; }
  int Prep(const Op& op) override;
  int PrepCancel(uint64_t id, OpScratch* scratch) override;
  bool CancelIsStaged() const override { return true; }
  int Submit() override;
  size_t Drain(Completion* out, size_t max) override;
  int Wait() override;
  int EventFd() const override { return efd_; }
  unsigned Unsubmitted() const override { return unsubmitted_; }
  void Close() override;

  // Lower-level access used by the kernel probe. The SQE is zeroed and
  // counted as staged; the kernel sees it only at the next Submit(), which
  // publishes the SQ tail (so it is never read half filled).
  struct io_uring_sqe* GetSqe();
  int RingFd() const { return fd_; }
  uint32_t Features() const { return features_; }
  unsigned SqEntries() const { return sq_entries_; }

  // user_data tags: bit 63 marks cancel requests, bit 62 internal requests.
  static constexpr uint64_t kCancelTag = 1ull << 63;
  static constexpr uint64_t kInternalTag = 1ull << 62;

 private:
  UringRing() {}
  int Setup(unsigned entries, const char** syscall_name);

  int fd_ = -1;
  int efd_ = -1;
  uint32_t features_ = 0;
  unsigned sq_entries_ = 0;
  unsigned cq_entries_ = 0;
  unsigned unsubmitted_ = 0;

  void* sq_ptr_ = nullptr;
  size_t sq_len_ = 0;
  void* cq_ptr_ = nullptr;
  size_t cq_len_ = 0;
  struct io_uring_sqe* sqes_ = nullptr;
  size_t sqes_len_ = 0;

  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned* sq_mask_ = nullptr;
  unsigned* sq_array_ = nullptr;
  unsigned* sq_flags_ = nullptr;
  unsigned sq_local_tail_ = 0;

  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned* cq_mask_ = nullptr;
  struct io_uring_cqe* cqes_ = nullptr;
};

}  // namespace daio
