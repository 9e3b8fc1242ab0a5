// Aligned memory owned by the library (issue 10, defect 9): allocAligned()
// memory comes from posix_memalign and is handed to JS as an external
// ArrayBuffer. Whatever JS does to that ArrayBuffer (detach it with
// transfer(), drop it, let the GC collect it), the memory is freed only once
// it is finalized AND no request still holds it: requests hold every
// allocation their views point into from submit until they settle.
#pragma once
#include <node_api.h>

namespace daio {

// Adds alignedAlloc, alignedHold, alignedRelease and alignedStats to exports.
void RegisterAlignedAlloc(napi_env env, napi_value exports);

// For the rings (ring_wrap.cc): hold the allocation that contains
// [p, p + len) while the kernel has an operation on it, from prep to
// retirement, without a call from JS. Returns an opaque hold, or nullptr if
// the range is not library memory. Thread-safe. A native backend's requests
// take no JS hold (alignedHold): before prep the kernel has not seen the
// address, and a view detached meanwhile fails the prep (EFAULT).
void* HoldAlignedRange(const void* p, size_t len);
void ReleaseAlignedHold(void* hold);

}  // namespace daio
