// Kernel facts found by trying: io_uring setup, opcodes and cancel flags,
// native AIO, O_DIRECT alignment, buffer addresses.
#pragma once

#include <napi.h>

namespace daio {
Napi::Value ProbeUring(const Napi::CallbackInfo& info);
Napi::Value ProbeAio(const Napi::CallbackInfo& info);
Napi::Value DioAlign(const Napi::CallbackInfo& info);
Napi::Value AddressOf(const Napi::CallbackInfo& info);
}  // namespace daio
