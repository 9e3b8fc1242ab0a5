#include "uring_ring.h"

#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

namespace daio {

namespace {
template <typename T>
T LoadAcquire(const T* p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <typename T>
void StoreRelease(T* p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
}  // namespace

UringRing* UringRing::Create(unsigned entries, int* err,
                             const char** syscall_name) {
  UringRing* r = new UringRing();
  int e = r->Setup(entries, syscall_name);
  if (e < 0) {
    *err = e;
    r->Close();
    delete r;
    return nullptr;
  }
  return r;
}

int UringRing::Setup(unsigned entries, const char** syscall_name) {
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  // A CQ four times the SQ leaves room for cancel completions on top of a
  // full set of in-flight operations. No COOP/DEFER_TASKRUN: completions must
  // signal the eventfd while the thread sleeps in epoll.
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  p.cq_entries = entries * 4;
  *syscall_name = "io_uring_setup";
  int fd = sys_io_uring_setup(entries, &p);
  if (fd == -EINVAL) {
    memset(&p, 0, sizeof(p));
    fd = sys_io_uring_setup(entries, &p);
  }
  if (fd < 0) return fd;
  fd_ = fd;
  features_ = p.features;
  sq_entries_ = p.sq_entries;
  cq_entries_ = p.cq_entries;

  *syscall_name = "mmap";
  sq_len_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cq_len_ = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) {
    if (cq_len_ > sq_len_) sq_len_ = cq_len_;
    cq_len_ = sq_len_;
  }
  sq_ptr_ = mmap(nullptr, sq_len_, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
  if (sq_ptr_ == MAP_FAILED) {
    sq_ptr_ = nullptr;
    return -errno;
  }
  if (single) {
    cq_ptr_ = sq_ptr_;
  } else {
    cq_ptr_ = mmap(nullptr, cq_len_, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_CQ_RING);
    if (cq_ptr_ == MAP_FAILED) {
      cq_ptr_ = nullptr;
      return -errno;
    }
  }
  sqes_len_ = p.sq_entries * sizeof(struct io_uring_sqe);
  void* s = mmap(nullptr, sqes_len_, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
  if (s == MAP_FAILED) return -errno;
  sqes_ = static_cast<struct io_uring_sqe*>(s);

  char* sq = static_cast<char*>(sq_ptr_);
  sq_head_ = reinterpret_cast<unsigned*>(sq + p.sq_off.head);
  sq_tail_ = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
  sq_mask_ = reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
  sq_array_ = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
  sq_flags_ = reinterpret_cast<unsigned*>(sq + p.sq_off.flags);
  sq_local_tail_ = *sq_tail_;
  char* cq = static_cast<char*>(cq_ptr_);
  cq_head_ = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
  cq_tail_ = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
  cq_mask_ = reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
  cqes_ = reinterpret_cast<struct io_uring_cqe*>(cq + p.cq_off.cqes);

  *syscall_name = "eventfd";
  efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd_ < 0) return -errno;
  *syscall_name = "io_uring_register";
  int r = sys_io_uring_register(fd_, IORING_REGISTER_EVENTFD, &efd_, 1);
  if (r < 0) return r;
  return 0;
}

UringRing::~UringRing() { Close(); }

void UringRing::Close() {
  if (sqes_) munmap(sqes_, sqes_len_);
  if (cq_ptr_ && cq_ptr_ != sq_ptr_) munmap(cq_ptr_, cq_len_);
  if (sq_ptr_) munmap(sq_ptr_, sq_len_);
  sqes_ = nullptr;
  cq_ptr_ = sq_ptr_ = nullptr;
  if (fd_ >= 0) close(fd_);
  if (efd_ >= 0) close(efd_);
  fd_ = efd_ = -1;
}

struct io_uring_sqe* UringRing::GetSqe() {
  if (sq_local_tail_ - LoadAcquire(sq_head_) >= sq_entries_) {
    // The SQ is full of staged entries: hand them over to make room. A
    // transient refusal leaves them staged; the caller sees -EBUSY.
    Submit();
    if (sq_local_tail_ - LoadAcquire(sq_head_) >= sq_entries_) return nullptr;
  }
  unsigned idx = sq_local_tail_ & *sq_mask_;
  struct io_uring_sqe* sqe = &sqes_[idx];
  memset(sqe, 0, sizeof(*sqe));
  sq_array_[idx] = idx;
  sq_local_tail_++;
  unsubmitted_++;
  return sqe;
}

int UringRing::Prep(const Op& op) {
  if (fd_ < 0) return -EBADF;
  if (op.kind > OP_FDATASYNC) return -EINVAL;
  struct io_uring_sqe* sqe = GetSqe();
  if (!sqe) return -EBUSY;
  sqe->fd = op.fd;
  sqe->user_data = op.id;
  switch (op.kind) {
    case OP_READ:
    case OP_WRITE:
      if (op.iovcnt == 1) {
        sqe->opcode = op.kind == OP_READ ? IORING_OP_READ : IORING_OP_WRITE;
        sqe->addr = reinterpret_cast<uint64_t>(op.iov[0].iov_base);
        sqe->len = static_cast<uint32_t>(op.iov[0].iov_len);
      } else {
        sqe->opcode = op.kind == OP_READ ? IORING_OP_READV : IORING_OP_WRITEV;
        sqe->addr = reinterpret_cast<uint64_t>(op.iov);
        sqe->len = op.iovcnt;
      }
      sqe->off = static_cast<uint64_t>(op.position);
      break;
    default:  // OP_FSYNC, OP_FDATASYNC
      sqe->opcode = IORING_OP_FSYNC;
      sqe->fsync_flags = op.kind == OP_FDATASYNC ? IORING_FSYNC_DATASYNC : 0;
      break;
  }
  return 0;
}

int UringRing::PrepCancel(uint64_t id, OpScratch*) {
  if (fd_ < 0) return -EBADF;
  struct io_uring_sqe* sqe = GetSqe();
  if (!sqe) return -EBUSY;
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = -1;
  sqe->addr = id;
  sqe->user_data = id | kCancelTag;
  return 0;
}

int UringRing::Submit() {
  if (fd_ < 0) return -EBADF;
  if (unsubmitted_ == 0) return 0;
  // Publish every staged SQE at once; the kernel reads head..tail.
  StoreRelease(sq_tail_, sq_local_tail_);
  int total = 0;
  while (unsubmitted_ > 0) {
    int r = sys_io_uring_enter(fd_, unsubmitted_, 0, 0);
    if (r == -EINTR) continue;
    if (r < 0) return r;  // what is left stays staged (see ring.h)
    // A refused SQE counts as consumed: it completes with an error CQE.
    unsigned consumed = static_cast<unsigned>(r);
    if (consumed > unsubmitted_) consumed = unsubmitted_;
    if (consumed == 0) return -EAGAIN;
    unsubmitted_ -= consumed;
    total += static_cast<int>(consumed);
  }
  return total;
}

size_t UringRing::Drain(Completion* out, size_t max) {
  if (fd_ < 0) return 0;
  size_t n = 0;
  for (;;) {
    unsigned head = *cq_head_;
    unsigned tail = LoadAcquire(cq_tail_);
    while (head != tail && n < max) {
      const struct io_uring_cqe* cqe = &cqes_[head & *cq_mask_];
      head++;
      uint64_t ud = cqe->user_data;
      if (ud & kCancelTag) {
        out[n++] = Completion{ud & ~kCancelTag, cqe->res, true};
      } else if (ud & kInternalTag) {
        continue;
      } else {
        out[n++] = Completion{ud, cqe->res, false};
      }
    }
    StoreRelease(cq_head_, head);
    if (n >= max) break;
    // Completions that did not fit the CQ wait on the kernel's overflow
    // list (IORING_FEAT_NODROP); a GETEVENTS enter moves them in.
    if (LoadAcquire(sq_flags_) & IORING_SQ_CQ_OVERFLOW) {
      sys_io_uring_enter(fd_, 0, 0, IORING_ENTER_GETEVENTS);
      continue;
    }
    break;
  }
  return n;
}

int UringRing::Wait() {
  if (fd_ < 0) return -EBADF;
  if (*cq_head_ != LoadAcquire(cq_tail_)) return 0;
  int r = sys_io_uring_enter(fd_, 0, 1, IORING_ENTER_GETEVENTS);
  return r < 0 ? r : 0;
}

}  // namespace daio
