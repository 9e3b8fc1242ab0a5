// The backend interface: plain C++, no N-API. A Ring turns operations into
// kernel submissions and hands back (id, res) completions. It never owns
// user memory; the caller keeps iovecs and buffers alive until the
// completion for their id has been drained.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

namespace daio {

enum OpKind : uint32_t {
  OP_READ = 0,
  OP_WRITE = 1,
  OP_FSYNC = 2,
  OP_FDATASYNC = 3,
};

// Per-operation scratch space the backend may use for kernel-visible state
// that must stay at a fixed address until completion (libaio's iocb, which
// io_cancel locates by address).
struct alignas(16) OpScratch {
  unsigned char bytes[80];
};

struct Op {
  uint64_t id;        // caller's id, < 2^53; returned in the completion
  uint32_t kind;      // OpKind
  int fd;
  int64_t position;   // byte offset; -1 = current file position
  const struct iovec* iov;  // stable until completion
  uint32_t iovcnt;
  OpScratch* scratch;       // stable until completion
};

// A completion. `cancel` marks the result of a cancel request for `id`
// rather than the result of the operation itself.
struct Completion {
  uint64_t id;
  int64_t res;
  bool cancel;
};

class Ring {
 public:
  virtual ~Ring() {}
  virtual const char* Name() const = 0;
  // Queue one operation for the next Submit(). 0 or -errno.
  virtual int Prep(const Op& op) = 0;
  // Ask the kernel to cancel an operation already submitted. The answer
  // arrives as a Completion with cancel = true. 0 or -errno.
  virtual int PrepCancel(uint64_t id, OpScratch* scratch) = 0;
  // Whether PrepCancel stages a request that Submit() hands over (and that
  // Unsubmitted() counts), or answers at once without staging anything.
  virtual bool CancelIsStaged() const = 0;
  // Hand everything staged to the kernel with one syscall where possible.
  // Staged requests are accepted strictly in the order they were staged.
  // Returns the number accepted when nothing is left staged. When the kernel
  // accepted only part (or none) and then refused with a transient error
  // (EAGAIN, EBUSY, ...), returns that -errno even if some were accepted:
  // the rest stays staged, and the caller must call Submit() again later.
  // Unsubmitted() tells how many remain.
  virtual int Submit() = 0;
  // Non-blocking: copy up to `max` completions into `out`.
  virtual size_t Drain(Completion* out, size_t max) = 0;
  // Blocking: wait until at least one completion is available to Drain().
  // 0 or -errno (EINTR, EAGAIN, EBADR, ...: the caller retries).
  virtual int Wait() = 0;
  // The eventfd that becomes readable when completions are available.
  virtual int EventFd() const = 0;
  // Number of requests staged but not yet accepted by the kernel.
  virtual unsigned Unsubmitted() const = 0;
  virtual void Close() = 0;
};

}  // namespace daio
