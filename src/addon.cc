// Module init only. Context-aware: every env (main thread, each worker) gets
// its own Ring instances; nothing here is process-global except counters.
#include <napi.h>

#include "aligned_alloc.h"
#include "probe.h"
#include "ring.h"
#include "ring_wrap.h"

namespace daio {

static Napi::Value NativeStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("liveOps", Napi::Number::New(env, static_cast<double>(NativeCounters::live_ops.load())));
  o.Set("liveRings", Napi::Number::New(env, static_cast<double>(NativeCounters::live_rings.load())));
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Ring", RingWrap::Init(env));
  exports.Set("probeUring", Napi::Function::New(env, ProbeUring, "probeUring"));
  exports.Set("probeAio", Napi::Function::New(env, ProbeAio, "probeAio"));
  exports.Set("dioAlign", Napi::Function::New(env, DioAlign, "dioAlign"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("nativeStats", Napi::Function::New(env, NativeStats, "nativeStats"));
  Napi::Object k = Napi::Object::New(env);
  k.Set("OP_READ", static_cast<double>(OP_READ));
  k.Set("OP_WRITE", static_cast<double>(OP_WRITE));
  k.Set("OP_FSYNC", static_cast<double>(OP_FSYNC));
  k.Set("OP_FDATASYNC", static_cast<double>(OP_FDATASYNC));
  exports.Set("constants", k);
  RegisterAlignedAlloc(env, exports);
  return exports;
}

}  // namespace daio

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return daio::Init(env, exports);
}

NODE_API_MODULE(direct_aio, InitModule)
