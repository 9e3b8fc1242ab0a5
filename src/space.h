// fallocate(2) and flock(2) for DirectFileHandle's space and locking calls,
// run off the main thread (they can block: a lock wait indefinitely).
#pragma once

#include <napi.h>

namespace daio {
// { fallocate(fd, mode, offset, length), flock(fd, operation), constants }:
// each function returns a promise of 0 or -errno; JS builds the errors.
Napi::Object SpaceInit(Napi::Env env);
}  // namespace daio
