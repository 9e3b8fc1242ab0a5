#include "aio_ring.h"

#include <string.h>
#include <sys/eventfd.h>

#include <algorithm>

namespace daio {

static_assert(sizeof(struct iocb) <= sizeof(OpScratch), "iocb fits scratch");

AioRing* AioRing::Create(unsigned entries, int* err, const char** syscall_name) {
  AioRing* r = new AioRing();
  r->entries_ = entries;
  *syscall_name = "io_setup";
  int e = sys_io_setup(entries, &r->ctx_);
  if (e < 0) {
    *err = e;
    r->ctx_ = 0;
    delete r;
    return nullptr;
  }
  *syscall_name = "eventfd";
  r->efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->efd_ < 0) {
    *err = -errno;
    delete r;
    return nullptr;
  }
  r->events_.resize(entries > 0 ? entries : 1);
  return r;
}

AioRing::~AioRing() { Close(); }

void AioRing::Close() {
  // io_destroy waits for outstanding iocbs, so no kernel write outlives it.
  if (ctx_) sys_io_destroy(ctx_);
  ctx_ = 0;
  if (efd_ >= 0) close(efd_);
  efd_ = -1;
}

int AioRing::Prep(const Op& op) {
  if (!ctx_) return -EBADF;
  struct iocb* cb = reinterpret_cast<struct iocb*>(op.scratch);
  memset(cb, 0, sizeof(*cb));
  cb->aio_data = op.id;
  cb->aio_fildes = static_cast<uint32_t>(op.fd);
  cb->aio_flags = IOCB_FLAG_RESFD;
  cb->aio_resfd = static_cast<uint32_t>(efd_);
  switch (op.kind) {
    case OP_READ:
    case OP_WRITE:
      if (op.position < 0) return -ESPIPE;  // AIO needs explicit offsets
      cb->aio_offset = op.position;
      if (op.iovcnt == 1) {
        cb->aio_lio_opcode = op.kind == OP_READ ? IOCB_CMD_PREAD : IOCB_CMD_PWRITE;
        cb->aio_buf = reinterpret_cast<uint64_t>(op.iov[0].iov_base);
        cb->aio_nbytes = op.iov[0].iov_len;
      } else {
        cb->aio_lio_opcode = op.kind == OP_READ ? IOCB_CMD_PREADV : IOCB_CMD_PWRITEV;
        cb->aio_buf = reinterpret_cast<uint64_t>(op.iov);
        cb->aio_nbytes = op.iovcnt;
      }
      break;
    case OP_FSYNC:
      cb->aio_lio_opcode = IOCB_CMD_FSYNC;
      break;
    case OP_FDATASYNC:
      cb->aio_lio_opcode = IOCB_CMD_FDSYNC;
      break;
    default:
      return -EINVAL;
  }
  pending_.push_back(cb);
  return 0;
}

void AioRing::Synthesize(uint64_t id, int64_t res, bool cancel) {
  ready_.push_back(Completion{id, res, cancel});
  uint64_t one = 1;
  ssize_t w = write(efd_, &one, sizeof(one));
  (void)w;
}

int AioRing::PrepCancel(uint64_t id, OpScratch* scratch) {
  if (!ctx_) return -EBADF;
  struct iocb* cb = reinterpret_cast<struct iocb*>(scratch);
  struct io_event ev;
  // io_cancel answers synchronously. For file and block I/O it is -EINVAL on
  // current kernels (only a few drivers implement ki_cancel). 0 would mean
  // the result was delivered; -EINPROGRESS that it arrives through the ring.
  int r = sys_io_cancel(ctx_, cb, &ev);
  Synthesize(id, r, true);
  return 0;
}

int AioRing::Submit() {
  if (!ctx_) return -EBADF;
  int total = 0;
  int err = 0;
  while (pending_head_ < pending_.size()) {
    long n = static_cast<long>(pending_.size() - pending_head_);
    int r = sys_io_submit(ctx_, n, &pending_[pending_head_]);
    if (r == -EINTR) continue;
    if (r == -EAGAIN || r == 0) {
      // Out of kernel slots (or resources): the rest stays staged.
      err = -EAGAIN;
      break;
    }
    if (r < 0) {
      // The first iocb was refused: report it as its own completion, so the
      // caller sees one shape of result, and go on with the rest.
      struct iocb* cb = pending_[pending_head_++];
      Synthesize(cb->aio_data, r, false);
      continue;
    }
    pending_head_ += static_cast<size_t>(r);
    total += r;
  }
  if (pending_head_ == pending_.size()) {
    pending_.clear();
    pending_head_ = 0;
  }
  return err < 0 ? err : total;
}

size_t AioRing::Drain(Completion* out, size_t max) {
  if (!ctx_) return 0;
  size_t n = 0;
  while (n < max && !ready_.empty()) {
    out[n++] = ready_.front();
    ready_.pop_front();
  }
  while (n < max) {
    long want = static_cast<long>(std::min(max - n, events_.size()));
    struct timespec zero = {0, 0};
    int r = sys_io_getevents(ctx_, 0, want, events_.data(), &zero);
    if (r == -EINTR) continue;
    if (r <= 0) break;
    for (int i = 0; i < r; i++) out[n++] = Completion{events_[i].data, events_[i].res, false};
    if (r < want) break;
  }
  return n;
}

int AioRing::Wait() {
  if (!ctx_) return -EBADF;
  if (!ready_.empty()) return 0;
  // Block in the kernel until at least one event (no polling: the eventfd
  // stays readable until Dispatch reads it, so poll() would spin). The
  // events go to ready_ for the next Drain().
  int r = sys_io_getevents(ctx_, 1, static_cast<long>(events_.size()), events_.data(), nullptr);
  if (r < 0) return r;
  for (int i = 0; i < r; i++) ready_.push_back(Completion{events_[i].data, events_[i].res, false});
  return 0;
}

}  // namespace daio
