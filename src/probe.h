// Kernel facts found by trying: io_uring setup, opcodes and cancel flags,
// native AIO, O_DIRECT alignment, buffer addresses.
#pragma once

#include <node_api.h>

namespace daio {
// Raw Node-API callbacks (see napi_util.h).
napi_value ProbeUring(napi_env env, napi_callback_info info);
napi_value ProbeAio(napi_env env, napi_callback_info info);
napi_value DioAlign(napi_env env, napi_callback_info info);
napi_value AddressOf(napi_env env, napi_callback_info info);
}  // namespace daio
