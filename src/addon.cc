// Module init only. Context-aware: every env (main thread, each worker) gets
// its own Ring instances; nothing here is process-global except counters.
// Every function exported here is a raw Node-API callback (napi_util.h), so
// none can abort the process while an environment terminates.
#include <napi.h>

#include "aligned_alloc.h"
#include "napi_util.h"
#include "probe.h"
#include "ring.h"
#include "ring_wrap.h"
#include "space.h"

namespace daio {

static napi_value NativeStats(napi_env env, napi_callback_info) {
  napi_value o = Obj(env);
  SetNum(env, o, "liveOps", static_cast<double>(NativeCounters::live_ops.load()));
  SetNum(env, o, "liveRings", static_cast<double>(NativeCounters::live_rings.load()));
  return o;
}

static void Export(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn = nullptr;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn) == napi_ok)
    napi_set_named_property(env, exports, name, fn);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  SetVal(env, exports, "Ring", RingWrap::Init(env));
  Export(env, exports, "probeUring", ProbeUring);
  Export(env, exports, "probeAio", ProbeAio);
  Export(env, exports, "dioAlign", DioAlign);
  Export(env, exports, "addressOf", AddressOf);
  Export(env, exports, "nativeStats", NativeStats);
  SetVal(env, exports, "space", SpaceInit(env));
  RegisterAlignedAlloc(env, exports);
  return exports;
}

}  // namespace daio

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return daio::Init(env, exports);
}

NODE_API_MODULE(direct_aio, InitModule)
