#include "probe.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <memory>

#include "aio_ring.h"
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

// Submit one cancel SQE and return its result.
int TryCancel(UringRing* ring, uint32_t flags, int fd, uint64_t addr,
              uint8_t op, bool* read_done) {
  struct io_uring_sqe* sqe = ring->GetSqe();
  if (!sqe) return -EBUSY;
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = fd;
  sqe->addr = addr;
  sqe->cancel_flags = flags;
  sqe->len = op;  // IORING_ASYNC_CANCEL_OP matches on sqe->len
  sqe->user_data = 777 | UringRing::kCancelTag;
  ring->Submit();
  Completion c[8];
  for (int tries = 0; tries < 100; tries++) {
    ring->Wait();
    size_t n = ring->Drain(c, 8);
    bool found = false;
    int res = 0;
    for (size_t i = 0; i < n; i++) {
      if (!c[i].cancel && c[i].id == 1) *read_done = true;
      if (c[i].cancel && c[i].id == 777) {
        found = true;
        res = static_cast<int>(c[i].res);
      }
    }
    if (found) return res;
  }
  return -ETIME;
}

}  // namespace

// probeUring() -> { ok, errno?, syscall?, features, opcodes[], cancelFlags{}, syncCancel }
Napi::Value ProbeUring(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  int err = 0;
  const char* sc = "";
  std::unique_ptr<UringRing> ring(UringRing::Create(8, &err, &sc));
  if (!ring) {
    out.Set("ok", false);
    out.Set("errno", err);
    out.Set("syscall", sc);
    return out;
  }
  out.Set("ok", true);
  out.Set("features", Napi::Number::New(env, ring->Features()));

  const unsigned kOps = 256;
  size_t sz = sizeof(struct io_uring_probe) + kOps * sizeof(struct io_uring_probe_op);
  std::unique_ptr<char[]> buf(new char[sz]);
  memset(buf.get(), 0, sz);
  struct io_uring_probe* probe = reinterpret_cast<struct io_uring_probe*>(buf.get());
  Napi::Array ops = Napi::Array::New(env);
  int pr = sys_io_uring_register(ring->RingFd(), IORING_REGISTER_PROBE, probe, kOps);
  if (pr >= 0) {
    uint32_t k = 0;
    for (unsigned i = 0; i < probe->ops_len && i < kOps; i++)
      if (probe->ops[i].flags & IO_URING_OP_SUPPORTED) ops.Set(k++, Napi::Number::New(env, probe->ops[i].op));
    out.Set("lastOp", Napi::Number::New(env, probe->last_op));
  } else {
    out.Set("probeErrno", pr);
  }
  out.Set("opcodes", ops);

  // A harmless pending request: a read from an empty pipe.
  int pipefd[2];
  Napi::Object flags = Napi::Object::New(env);
  if (pipe2(pipefd, O_CLOEXEC) == 0) {
    char byte;
    struct io_uring_sqe* sqe = ring->GetSqe();
    sqe->opcode = IORING_OP_READ;
    sqe->fd = pipefd[0];
    sqe->addr = reinterpret_cast<uint64_t>(&byte);
    sqe->len = 1;
    sqe->user_data = 1;
    ring->Submit();
    // Register the write end so FD_FIXED has something to look at.
    sys_io_uring_register(ring->RingFd(), IORING_REGISTER_FILES, &pipefd[1], 1);
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
    Napi::Object results = Napi::Object::New(env);
    bool read_done = false;
    for (auto& t : tries) {
      int r = TryCancel(ring.get(), t.flags, t.fd, nobody, IORING_OP_NOP, &read_done);
      flags.Set(t.name, r != -EINVAL);
      results.Set(t.name, r);
    }
    out.Set("cancelResults", results);
    // Drain the cancelled read before the byte it points at goes away.
    if (!read_done) {
      ring->CancelAll();
      Completion c[8];
      for (int i = 0; i < 100 && !read_done; i++) {
        ring->Wait();
        size_t n = ring->Drain(c, 8);
        for (size_t j = 0; j < n; j++)
          if (!c[j].cancel && c[j].id == 1) read_done = true;
      }
    }
    SyncCancelReg reg;
    memset(&reg, 0, sizeof(reg));
    reg.addr = nobody;
    reg.fd = -1;
    reg.timeout.tv_sec = -1;
    reg.timeout.tv_nsec = -1;
    int sr = sys_io_uring_register(ring->RingFd(), IORING_REGISTER_SYNC_CANCEL, &reg, 1);
    out.Set("syncCancel", sr != -EINVAL);
    out.Set("syncCancelResult", sr);
    close(pipefd[0]);
    close(pipefd[1]);
  }
  out.Set("cancelFlags", flags);
  ring->Close();
  return out;
}

// probeAio(entries) -> { ok, errno?, syscall? }
Napi::Value ProbeAio(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  unsigned n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 1;
  aio_context_t ctx = 0;
  int r = sys_io_setup(n, &ctx);
  out.Set("ok", r == 0);
  if (r < 0) {
    out.Set("errno", r);
    out.Set("syscall", "io_setup");
  } else {
    sys_io_destroy(ctx);
  }
  return out;
}

// dioAlign(fd) -> { memory, offset, logicalBlockSize, source } (0 if unknown)
Napi::Value DioAlign(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Object out = Napi::Object::New(env);
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
  out.Set("memory", mem);
  out.Set("offset", off);
  out.Set("logicalBlockSize", bs);
  out.Set("source", source);
  return out;
}

// addressOf(arrayBuffer) -> base address of its memory, as a number.
Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data = nullptr;
  size_t len = 0;
  napi_value v = info[0];
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
    return Napi::Number::New(env, -1);
  }
  return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(data)));
}

}  // namespace daio
