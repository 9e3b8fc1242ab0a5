// fallocate(2) and flock(2), each one napi async work item: the call runs on
// a libuv thread-pool thread (never the event loop), and the result, 0 or
// -errno, resolves a promise. Arguments are validated and errors built in
// TypeScript (lib/api/space.ts). Raw napi_* calls with checked statuses, so
// completing while the environment tears down (worker.terminate()) is safe:
// the calls fail quietly and the work item is still freed.
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/file.h>

#include <cstdint>

namespace daio {
namespace {

enum class SpaceOp { kFallocate, kFlock };

struct SpaceWork {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  SpaceOp op = SpaceOp::kFallocate;
  int fd = -1;
  int mode = 0;  // fallocate mode, or flock operation
  int64_t offset = 0;
  int64_t length = 0;
  int result = 0;
};

void ExecuteSpace(napi_env, void* data) {
  SpaceWork* w = static_cast<SpaceWork*>(data);
  int r;
  if (w->op == SpaceOp::kFallocate) {
    do {
      r = fallocate(w->fd, w->mode, static_cast<off_t>(w->offset), static_cast<off_t>(w->length));
    } while (r < 0 && errno == EINTR);
  } else {
    do {
      r = flock(w->fd, w->mode);
    } while (r < 0 && errno == EINTR);
  }
  w->result = r < 0 ? -errno : 0;
}

void CompleteSpace(napi_env env, napi_status status, void* data) {
  SpaceWork* w = static_cast<SpaceWork*>(data);
  int result = status == napi_ok ? w->result : -ECANCELED;
  napi_value v;
  if (napi_create_int32(env, result, &v) == napi_ok) napi_resolve_deferred(env, w->deferred, v);
  napi_delete_async_work(env, w->work);
  delete w;
}

// Queue `w`; returns the promise (or undefined if napi refused, e.g. while terminating).
napi_value QueueSpace(napi_env env, SpaceWork* w, const char* name) {
  napi_value promise = nullptr;
  napi_value resource_name;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_async_work(env, nullptr, resource_name, ExecuteSpace, CompleteSpace, w, &w->work) != napi_ok) {
    delete w;
    return nullptr;
  }
  if (napi_queue_async_work(env, w->work) != napi_ok) {
    napi_value v;
    if (napi_create_int32(env, -ENOMEM, &v) == napi_ok) napi_resolve_deferred(env, w->deferred, v);
    napi_delete_async_work(env, w->work);
    delete w;
  }
  return promise;
}

bool Numbers(const Napi::CallbackInfo& info, size_t n) {
  if (info.Length() < n) return false;
  for (size_t i = 0; i < n; i++)
    if (!info[i].IsNumber()) return false;
  return true;
}

// fallocate(fd, mode, offset, length) -> Promise<0 | -errno>
Napi::Value JS_Fallocate(const Napi::CallbackInfo& info) {
  if (!Numbers(info, 4)) return info.Env().Undefined();
  SpaceWork* w = new SpaceWork();
  w->op = SpaceOp::kFallocate;
  w->fd = info[0].As<Napi::Number>().Int32Value();
  w->mode = info[1].As<Napi::Number>().Int32Value();
  w->offset = info[2].As<Napi::Number>().Int64Value();
  w->length = info[3].As<Napi::Number>().Int64Value();
  napi_value p = QueueSpace(info.Env(), w, "direct-aio:fallocate");
  return p ? Napi::Value(info.Env(), p) : info.Env().Undefined();
}

// flock(fd, operation) -> Promise<0 | -errno>
Napi::Value JS_Flock(const Napi::CallbackInfo& info) {
  if (!Numbers(info, 2)) return info.Env().Undefined();
  SpaceWork* w = new SpaceWork();
  w->op = SpaceOp::kFlock;
  w->fd = info[0].As<Napi::Number>().Int32Value();
  w->mode = info[1].As<Napi::Number>().Int32Value();
  napi_value p = QueueSpace(info.Env(), w, "direct-aio:flock");
  return p ? Napi::Value(info.Env(), p) : info.Env().Undefined();
}

}  // namespace

Napi::Object SpaceInit(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("fallocate", Napi::Function::New(env, JS_Fallocate, "fallocate"));
  o.Set("flock", Napi::Function::New(env, JS_Flock, "flock"));
  Napi::Object k = Napi::Object::New(env);
  k.Set("FALLOC_FL_KEEP_SIZE", static_cast<double>(FALLOC_FL_KEEP_SIZE));
  k.Set("FALLOC_FL_PUNCH_HOLE", static_cast<double>(FALLOC_FL_PUNCH_HOLE));
  k.Set("LOCK_SH", static_cast<double>(LOCK_SH));
  k.Set("LOCK_EX", static_cast<double>(LOCK_EX));
  k.Set("LOCK_NB", static_cast<double>(LOCK_NB));
  k.Set("LOCK_UN", static_cast<double>(LOCK_UN));
  o.Set("constants", k);
  return o;
}

}  // namespace daio
