// Linux native AIO (libaio's kernel interface) over raw syscalls.
#pragma once

#include <deque>
#include <vector>

#include "ring.h"
#include "sys.h"

namespace daio {

class AioRing : public Ring {
 public:
  static AioRing* Create(unsigned entries, int* err, const char** syscall_name);
  ~AioRing() override;

  const char* Name() const override { return "libaio"; }
  int Prep(const Op& op) override;
  int PrepCancel(uint64_t id, OpScratch* scratch) override;
  bool CancelIsStaged() const override { return false; }
  int Submit() override;
  size_t Drain(Completion* out, size_t max) override;
  int Wait() override;
  int EventFd() const override { return efd_; }
  unsigned Unsubmitted() const override {
    return static_cast<unsigned>(pending_.size() - pending_head_);
  }
  void Close() override;

 private:
  AioRing() {}
  void Synthesize(uint64_t id, int64_t res, bool cancel);

  aio_context_t ctx_ = 0;
  int efd_ = -1;
  unsigned entries_ = 0;
  std::vector<struct iocb*> pending_;  // prepared, not yet accepted
  size_t pending_head_ = 0;
  // Completions ready for Drain(): results produced in user space (io_cancel
  // answers, io_submit refusals; these also signal the eventfd, so they take
  // the same path as kernel completions) and events Wait() collected.
  std::deque<Completion> ready_;
  std::vector<struct io_event> events_;
};

}  // namespace daio
