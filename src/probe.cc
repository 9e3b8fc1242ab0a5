#include "probe.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <string.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#include <memory>

#include "aio_ring.h"
#include "napi_util.h"
#include "uring_ring.h"

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

namespace daio {

namespace {

// Layout of IORING_REGISTER_SYNC_CANCEL's argument (6.0+), defined here so
// that older headers still compile.
struct SyncCancelReg {
  uint64_t addr;
  int32_t fd;
  uint32_t flags;
  struct {
    int64_t tv_sec;
    long long tv_nsec;
  } timeout;
  uint8_t opcode;
  uint8_t pad[7];
  uint64_t pad2[3];
};

constexpr uint64_t kProbeCancelId = 777;
constexpr uint64_t kPipeReadId = 1;

// Wait (bounded) for the completion `want` (a cancel's, if `cancel`),
// noting whether the pipe read completed meanwhile. Returns true if found.
bool WaitFor(UringRing* ring, uint64_t want, bool cancel, int timeout_ms, int64_t* res, bool* read_done) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  Completion c[8];
  for (;;) {
    // Reset the eventfd first: any completion after this signals it again.
    uint64_t counter;
    ssize_t rd = read(ring->EventFd(), &counter, sizeof(counter));
    (void)rd;
    bool found = false;
    for (size_t n; (n = ring->Drain(c, 8)) > 0;) {
      for (size_t i = 0; i < n; i++) {
        if (!c[i].cancel && c[i].id == kPipeReadId) *read_done = true;
        if (c[i].cancel == cancel && c[i].id == want) {
          found = true;
          if (res) *res = c[i].res;
        }
      }
    }
    if (found) return true;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (elapsed >= timeout_ms) return false;
    struct pollfd pfd = {ring->EventFd(), POLLIN, 0};
    poll(&pfd, 1, static_cast<int>(timeout_ms - elapsed));
  }
}

// Submit one cancel SQE with `flags` and return its result, or -ETIME if it
// did not arrive within a second.
int TryCancel(UringRing* ring, uint32_t flags, int fd, uint64_t addr, uint8_t op, bool* read_done) {
  struct io_uring_sqe* sqe = ring->GetSqe();
  if (!sqe) return -EBUSY;
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = fd;
  sqe->addr = addr;
  sqe->cancel_flags = flags;
  sqe->len = op;  // IORING_ASYNC_CANCEL_OP matches on sqe->len
  sqe->user_data = kProbeCancelId | UringRing::kCancelTag;
  int s = ring->Submit();
  if (s < 0) return s;
  int64_t res = -ETIME;
  if (!WaitFor(ring, kProbeCancelId, true, 1000, &res, read_done)) return -ETIME;
  return static_cast<int>(res);
}

// The pending read's target. Static: if the read were still pending when
// the ring closes, the kernel could complete it later, and this byte
// outlives every ring.
char pipe_byte;

}  // namespace

// probeUring() -> { ok, errno?, syscall?, features, opcodes[], cancelFlags{}, syncCancel }
// Every wait is bounded. Registrations happen only while nothing is pending:
// before 5.13 most io_uring_register opcodes (FILES, and unknown ones such
// as SYNC_CANCEL) first wait for every in-flight request to finish.
napi_value ProbeUring(napi_env env, napi_callback_info info) {
  napi_value out = Obj(env);
  if (!out) return nullptr;
  int err = 0;
  const char* sc = "";
  std::unique_ptr<UringRing> ring(UringRing::Create(8, &err, &sc));
  if (!ring) {
    SetBool(env, out, "ok", false);
    SetNum(env, out, "errno", err);
    SetStr(env, out, "syscall", sc);
    return out;
  }
  SetBool(env, out, "ok", true);
  SetNum(env, out, "features", ring->Features());

  const unsigned kOps = 256;
  size_t sz = sizeof(struct io_uring_probe) + kOps * sizeof(struct io_uring_probe_op);
  std::unique_ptr<char[]> buf(new char[sz]);
  memset(buf.get(), 0, sz);
  struct io_uring_probe* probe = reinterpret_cast<struct io_uring_probe*>(buf.get());
  napi_value ops = nullptr;
  napi_create_array(env, &ops);
  if (sys_io_uring_register(ring->RingFd(), IORING_REGISTER_PROBE, probe, kOps) >= 0 && ops) {
    uint32_t k = 0;
    for (unsigned i = 0; i < probe->ops_len && i < kOps; i++) {
      if (!(probe->ops[i].flags & IO_URING_OP_SUPPORTED)) continue;
      napi_value v = Num(env, probe->ops[i].op);
      if (v && napi_set_element(env, ops, k, v) == napi_ok) k++;
    }
  }
  SetVal(env, out, "opcodes", ops);

  // Sync cancel (6.0+), asked while nothing is pending.
  SyncCancelReg reg;
  memset(&reg, 0, sizeof(reg));
  reg.addr = 0xdead;
  reg.fd = -1;
  reg.timeout.tv_sec = -1;
  reg.timeout.tv_nsec = -1;
  int sr = sys_io_uring_register(ring->RingFd(), IORING_REGISTER_SYNC_CANCEL, &reg, 1);
  SetBool(env, out, "syncCancel", sr != -EINVAL);

  // Cancel flags: each is tried against a harmless pending request, a read
  // from an empty pipe. A kernel that does not know a flag answers -EINVAL
  // (before 5.19, any nonzero flags).
  napi_value flags = Obj(env);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) == 0) {
    // Register the write end (before anything is pending) so FD_FIXED has
    // something to look at.
    sys_io_uring_register(ring->RingFd(), IORING_REGISTER_FILES, &pipefd[1], 1);
    bool read_done = false;
    struct io_uring_sqe* sqe = ring->GetSqe();
    if (sqe) {
      sqe->opcode = IORING_OP_READ;
      sqe->fd = pipefd[0];
      sqe->addr = reinterpret_cast<uint64_t>(&pipe_byte);
      sqe->len = 1;
      sqe->user_data = kPipeReadId;
    }
    bool pending = sqe && ring->Submit() == 1;
    const uint64_t nobody = 0xdead;
    struct {
      const char* name;
      uint32_t flags;
      int fd;
    } tries[] = {
        {"userdata", IORING_ASYNC_CANCEL_USERDATA, -1},
        {"all", IORING_ASYNC_CANCEL_ALL, -1},
        {"fd", IORING_ASYNC_CANCEL_FD, pipefd[1]},
        {"fdFixed", IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_FD_FIXED, 0},
        {"op", IORING_ASYNC_CANCEL_OP, -1},
        // Last: ANY matches the pending read and cancels it.
        {"any", IORING_ASYNC_CANCEL_ANY, -1},
    };
    for (auto& t : tries) {
      int r = pending ? TryCancel(ring.get(), t.flags, t.fd, nobody, IORING_OP_NOP, &read_done) : -EINVAL;
      // -ETIME (no answer in time) and -EBUSY say nothing: not supported.
      SetBool(env, flags, t.name, r != -EINVAL && r != -ETIME && r != -EBUSY);
    }
    // Complete the read if it is still pending (ANY did not cancel it: a
    // kernel before 5.19), with a byte into the pipe; wait a bounded time.
    if (pending && !read_done) {
      ssize_t w = write(pipefd[1], "x", 1);
      (void)w;
      WaitFor(ring.get(), kPipeReadId, false, 1000, nullptr, &read_done);
    }
    close(pipefd[0]);
    close(pipefd[1]);
  }
  SetVal(env, out, "cancelFlags", flags);
  ring->Close();
  return out;
}

// probeAio(entries) -> { ok, errno?, syscall? }
napi_value ProbeAio(napi_env env, napi_callback_info info) {
  Args<1> a;
  if (!a.Read(env, info)) return nullptr;
  napi_value out = Obj(env);
  if (!out) return nullptr;
  uint32_t n = 1;
  if (!ArgUint32(env, a.argv[0], &n)) n = 1;
  aio_context_t ctx = 0;
  int r = sys_io_setup(n, &ctx);
  SetBool(env, out, "ok", r == 0);
  if (r < 0) {
    SetNum(env, out, "errno", r);
    SetStr(env, out, "syscall", "io_setup");
  } else {
    sys_io_destroy(ctx);
  }
  return out;
}

// dioAlign(fd) -> { memory, offset, logicalBlockSize, source } (0 if unknown)
napi_value DioAlign(napi_env env, napi_callback_info info) {
  Args<1> a;
  if (!a.Read(env, info)) return nullptr;
  int32_t fd = -1;
  if (!ArgInt32(env, a.argv[0], &fd)) fd = -1;
  napi_value out = Obj(env);
  if (!out) return nullptr;
  struct statx stx;
  memset(&stx, 0, sizeof(stx));
  uint32_t mem = 0, off = 0;
  const char* source = "none";
  if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN | STATX_TYPE, &stx) == 0) {
    if ((stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
      mem = stx.stx_dio_mem_align;
      off = stx.stx_dio_offset_align;
      source = "statx";
    }
  }
  int bs = 0;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
    if (ioctl(fd, BLKSSZGET, &bs) == 0 && !off) {
      mem = off = static_cast<uint32_t>(bs);
      source = "BLKSSZGET";
    }
  }
  SetNum(env, out, "memory", mem);
  SetNum(env, out, "offset", off);
  SetNum(env, out, "logicalBlockSize", bs);
  SetStr(env, out, "source", source);
  return out;
}

// addressOf(arrayBuffer) -> base address of its memory, as a number.
napi_value AddressOf(napi_env env, napi_callback_info info) {
  Args<1> a;
  if (!a.Read(env, info)) return nullptr;
  void* data = nullptr;
  size_t len = 0;
  napi_value v = a.argv[0];
  if (!v) return Num(env, -1);
  bool is = false;
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    napi_get_arraybuffer_info(env, v, &data, &len);
  } else if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type t;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env, v, &t, &len, &data, &ab, &off);
  } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t off;
    napi_get_dataview_info(env, v, &len, &data, &ab, &off);
  } else {
    // SharedArrayBuffer and anything else: ask V8 via a Uint8Array view.
    return Num(env, -1);
  }
  return Num(env, static_cast<double>(reinterpret_cast<uintptr_t>(data)));
}

}  // namespace daio
