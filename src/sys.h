// Raw Linux syscalls and the UAPI constants that older installed headers lack.
// direct-aio links against neither liburing nor libaio: everything goes
// through syscall(2) with the kernel's own structures.
#pragma once

#include <errno.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

// Cancel flags appeared over several releases (5.19 .. 6.6).
#ifndef IORING_ASYNC_CANCEL_ALL
#define IORING_ASYNC_CANCEL_ALL (1U << 0)
#endif
#ifndef IORING_ASYNC_CANCEL_FD
#define IORING_ASYNC_CANCEL_FD (1U << 1)
#endif
#ifndef IORING_ASYNC_CANCEL_ANY
#define IORING_ASYNC_CANCEL_ANY (1U << 2)
#endif
#ifndef IORING_ASYNC_CANCEL_FD_FIXED
#define IORING_ASYNC_CANCEL_FD_FIXED (1U << 3)
#endif
#ifndef IORING_ASYNC_CANCEL_USERDATA
#define IORING_ASYNC_CANCEL_USERDATA (1U << 4)
#endif
#ifndef IORING_ASYNC_CANCEL_OP
#define IORING_ASYNC_CANCEL_OP (1U << 5)
#endif
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_CLAMP
#define IORING_SETUP_CLAMP (1U << 4)
#endif
#ifndef IORING_REGISTER_SYNC_CANCEL
#define IORING_REGISTER_SYNC_CANCEL 24
#endif
#ifndef IORING_REGISTER_FILES
#define IORING_REGISTER_FILES 2
#endif
#ifndef IORING_SQ_CQ_OVERFLOW
#define IORING_SQ_CQ_OVERFLOW (1U << 1)
#endif

namespace daio {

inline int sys_io_uring_setup(unsigned entries, struct io_uring_params* p) {
  long r = syscall(__NR_io_uring_setup, entries, p);
  return r < 0 ? -errno : (int)r;
}

inline int sys_io_uring_enter(int fd, unsigned to_submit, unsigned min_complete,
                              unsigned flags) {
  long r = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags,
                   nullptr, 0);
  return r < 0 ? -errno : (int)r;
}

inline int sys_io_uring_register(int fd, unsigned opcode, const void* arg,
                                 unsigned nr_args) {
  long r = syscall(__NR_io_uring_register, fd, opcode, arg, nr_args);
  return r < 0 ? -errno : (int)r;
}

inline int sys_io_setup(unsigned nr, aio_context_t* ctx) {
  long r = syscall(__NR_io_setup, nr, ctx);
  return r < 0 ? -errno : (int)r;
}

inline int sys_io_destroy(aio_context_t ctx) {
  long r = syscall(__NR_io_destroy, ctx);
  return r < 0 ? -errno : (int)r;
}

inline int sys_io_submit(aio_context_t ctx, long n, struct iocb** iocbs) {
  long r = syscall(__NR_io_submit, ctx, n, iocbs);
  return r < 0 ? -errno : (int)r;
}

inline int sys_io_cancel(aio_context_t ctx, struct iocb* iocb,
                         struct io_event* result) {
  long r = syscall(__NR_io_cancel, ctx, iocb, result);
  return r < 0 ? -errno : (int)r;
}

inline int sys_io_getevents(aio_context_t ctx, long min_nr, long nr,
                            struct io_event* events, struct timespec* timeout) {
  long r = syscall(__NR_io_getevents, ctx, min_nr, nr, events, timeout);
  return r < 0 ? -errno : (int)r;
}

}  // namespace daio
