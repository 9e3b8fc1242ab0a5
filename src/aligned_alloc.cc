// See aligned_alloc.h. Raw napi_* calls with checked statuses and no throws,
// so every entry point survives a terminating environment (it then returns
// undefined and JS falls back or does nothing).
//
// The registry is process-global (a worker's allocation may be finalized on
// its own thread while another thread allocates), guarded by one mutex; the
// work under it is a map lookup.
// binding.gyp defines NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED so that no other
// file creates external buffers by accident. This file is the one deliberate
// user, and it handles napi_no_external_buffers_allowed (JS then falls back
// to over-allocating an ordinary ArrayBuffer).
#undef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
#include "aligned_alloc.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <atomic>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace daio {
namespace {

struct Allocation {
  char* base;
  size_t size;
  int64_t holds;   // requests currently using the memory
  bool finalized;  // JS can no longer reach it (GC, detach, env teardown)
  bool mapped;     // from mmap (large sizes), else posix_memalign
  size_t map_len;
};

// At and above this size the memory comes straight from mmap: the kernel
// hands out zeroed pages, so a zeroed allocation touches no memory up front
// (as calloc does for V8's own large ArrayBuffers), and free gives it back.
constexpr size_t kMapThreshold = 1 << 20;

std::mutex mu;
std::map<uintptr_t, Allocation*> by_base;              // base address -> allocation
std::unordered_map<uint32_t, std::vector<Allocation*>> holds_by_token;
uint32_t next_token = 1;
size_t live = 0;          // allocations not yet freed
std::atomic<size_t> live_any{0};  // mirrors live, read without mu to skip the lock when nothing is allocated
size_t deferred = 0;      // frees deferred because a request still held the memory (cumulative)
size_t freed = 0;         // cumulative
size_t ring_holds = 0;    // holds the rings took (HoldAlignedRange), not yet released

// The rings look up the allocation of every buffer they are given
// (HoldAlignedRange, once per request); an application reuses few buffers
// many times, and a walk of by_base cost more than the rest of a prep. So the
// last allocation found for each page address is remembered here, in a small
// direct-mapped table, checked before the map. Guarded by mu; FreeLocked
// forgets an allocation before it is freed.
constexpr size_t kFindCacheSize = 256;
struct FindCacheEntry {
  uintptr_t page;
  Allocation* a;
};
FindCacheEntry find_cache[kFindCacheSize];

size_t FindCacheSlot(uintptr_t page) { return (page ^ (page >> 8)) & (kFindCacheSize - 1); }

// Caller holds mu.
void FreeLocked(Allocation* a) {
  for (FindCacheEntry& e : find_cache) {
    if (e.a == a) e = FindCacheEntry{0, nullptr};
  }
  by_base.erase(reinterpret_cast<uintptr_t>(a->base));
  if (a->mapped) munmap(a->base, a->map_len);
  else std::free(a->base);
  delete a;
  live--;
  live_any.store(live, std::memory_order_relaxed);
  freed++;
}

// Whether allocation `a` contains [p, p + len).
bool Contains(const Allocation* a, uintptr_t p, size_t len) {
  uintptr_t b = reinterpret_cast<uintptr_t>(a->base);
  if (p < b || p - b > a->size || len > a->size - (p - b)) return false;
  if (a->size == 0 && p != b) return false;
  return true;
}

// The allocation that contains [p, p + len), or null. Caller holds mu.
Allocation* FindLocked(uintptr_t p, size_t len) {
  uintptr_t page = p >> 12;
  FindCacheEntry& e = find_cache[FindCacheSlot(page)];
  if (e.a != nullptr && e.page == page && Contains(e.a, p, len)) return e.a;
  auto it = by_base.upper_bound(p);
  if (it == by_base.begin()) return nullptr;
  --it;
  Allocation* a = it->second;
  if (!Contains(a, p, len)) return nullptr;
  e = FindCacheEntry{page, a};
  return a;
}

void Finalize(napi_env /*env*/, void* /*data*/, void* hint) {
  Allocation* a = static_cast<Allocation*>(hint);
  std::lock_guard<std::mutex> lock(mu);
  a->finalized = true;
  if (a->holds == 0) FreeLocked(a);
  else deferred++;
}

napi_value Undefined(napi_env env) {
  napi_value u = nullptr;
  napi_get_undefined(env, &u);
  return u;
}

napi_value Number(napi_env env, double v) {
  napi_value n = nullptr;
  if (napi_create_double(env, v, &n) != napi_ok) return Undefined(env);
  return n;
}

// alignedAlloc(size, alignment, zero) -> ArrayBuffer of exactly `size` bytes
// starting on an `alignment` boundary, or a negative errno (-ENOMEM; -EPERM
// when this runtime refuses external buffers: JS then falls back).
napi_value AlignedAlloc(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3) return Undefined(env);
  double size_d = 0, align_d = 0;
  bool zero = true;
  if (napi_get_value_double(env, argv[0], &size_d) != napi_ok) return Undefined(env);
  if (napi_get_value_double(env, argv[1], &align_d) != napi_ok) return Undefined(env);
  if (napi_get_value_bool(env, argv[2], &zero) != napi_ok) return Undefined(env);
  if (!(size_d >= 0) || size_d > 9007199254740991.0 || !(align_d >= 1)) return Number(env, -EINVAL);
  size_t size = static_cast<size_t>(size_d);
  size_t alignment = static_cast<size_t>(align_d);
  if (alignment < sizeof(void*)) alignment = sizeof(void*);  // posix_memalign's minimum
  void* mem = nullptr;
  bool mapped = false;
  size_t map_len = 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (size >= kMapThreshold) {
    // Over-map by (alignment - page) when the alignment exceeds a page, then trim.
    const size_t extra = alignment > page ? alignment - page : 0;
    const size_t len = (size + page - 1) / page * page;
    if (len < size || len + extra < len) return Number(env, -ENOMEM);
    void* m = mmap(nullptr, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return Number(env, -errno);
    uintptr_t start = reinterpret_cast<uintptr_t>(m);
    uintptr_t aligned = (start + alignment - 1) / alignment * alignment;
    if (aligned > start) munmap(m, aligned - start);
    uintptr_t end = start + len + extra;
    if (end > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), end - (aligned + len));
    mem = reinterpret_cast<void*>(aligned);
    mapped = true;
    map_len = len;
  } else {
    // One byte for size 0, so every allocation has a distinct base.
    int rc = posix_memalign(&mem, alignment, size == 0 ? 1 : size);
    if (rc != 0 || mem == nullptr) return Number(env, -(rc ? rc : ENOMEM));
    if (zero) std::memset(mem, 0, size);
  }
  Allocation* a = new Allocation{static_cast<char*>(mem), size, 0, false, mapped, map_len};
  {
    std::lock_guard<std::mutex> lock(mu);
    by_base[reinterpret_cast<uintptr_t>(mem)] = a;
    live++;
    live_any.store(live, std::memory_order_relaxed);
  }
  napi_value ab = nullptr;
  napi_status st = napi_create_external_arraybuffer(env, mem, size, Finalize, a, &ab);
  if (st != napi_ok) {
    // napi_no_external_buffers_allowed (a V8 sandbox), or a terminating env.
    std::lock_guard<std::mutex> lock(mu);
    FreeLocked(a);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
    }
    return Number(env, -EPERM);
  }
  return ab;
}

// Base pointer and length of a TypedArray/DataView/Buffer, false if none.
bool ViewRange(napi_env env, napi_value v, uintptr_t* p, size_t* len) {
  bool is = false;
  void* data = nullptr;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) return false;
    size_t el = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: el = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: el = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: el = 8; break;
      default: el = 1;
    }
    *p = reinterpret_cast<uintptr_t>(data);
    *len = length * el;
    return data != nullptr;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    size_t length = 0, offset = 0;
    napi_value ab;
    if (napi_get_dataview_info(env, v, &length, &data, &ab, &offset) != napi_ok) return false;
    *p = reinterpret_cast<uintptr_t>(data);
    *len = length;
    return data != nullptr;
  }
  return false;
}

// alignedHold(views: ArrayBufferView[]) -> token (> 0) if any view lies in
// library memory, else 0. The memory stays allocated until alignedRelease(token).
napi_value AlignedHold(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arr;
  if (napi_get_cb_info(env, info, &argc, &arr, nullptr, nullptr) != napi_ok || argc < 1) return Number(env, 0);
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return Number(env, 0);
  std::vector<std::pair<uintptr_t, size_t>> ranges;
  ranges.reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    if (napi_get_element(env, arr, i, &v) != napi_ok) return Number(env, 0);
    uintptr_t p = 0;
    size_t len = 0;
    if (ViewRange(env, v, &p, &len)) ranges.emplace_back(p, len);
  }
  std::lock_guard<std::mutex> lock(mu);
  if (by_base.empty()) return Number(env, 0);
  std::vector<Allocation*> held;
  for (auto& r : ranges) {
    Allocation* a = FindLocked(r.first, r.second);
    if (a == nullptr) continue;
    a->holds++;
    held.push_back(a);
  }
  if (held.empty()) return Number(env, 0);
  uint32_t token;
  do {  // 0 means "nothing held"; skip tokens still in use after a wrap-around
    token = next_token++;
  } while (token == 0 || holds_by_token.count(token) != 0);
  holds_by_token.emplace(token, std::move(held));
  return Number(env, token);
}

// alignedRelease(token): the request that took `token` has settled.
napi_value AlignedRelease(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  if (napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr) != napi_ok || argc < 1) return Undefined(env);
  uint32_t token = 0;
  if (napi_get_value_uint32(env, arg, &token) != napi_ok) return Undefined(env);
  std::lock_guard<std::mutex> lock(mu);
  auto it = holds_by_token.find(token);
  if (it == holds_by_token.end()) return Undefined(env);
  for (Allocation* a : it->second) {
    if (--a->holds == 0 && a->finalized) FreeLocked(a);
  }
  holds_by_token.erase(it);
  return Undefined(env);
}

// alignedStats() -> { live, held, deferred, freed }
napi_value AlignedStats(napi_env env, napi_callback_info info) {
  size_t l, h, d, f;
  {
    std::lock_guard<std::mutex> lock(mu);
    l = live;
    h = holds_by_token.size() + ring_holds;
    d = deferred;
    f = freed;
  }
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return Undefined(env);
  napi_set_named_property(env, o, "live", Number(env, static_cast<double>(l)));
  napi_set_named_property(env, o, "held", Number(env, static_cast<double>(h)));
  napi_set_named_property(env, o, "deferred", Number(env, static_cast<double>(d)));
  napi_set_named_property(env, o, "freed", Number(env, static_cast<double>(f)));
  return o;
}

void Set(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn) == napi_ok) napi_set_named_property(env, exports, name, fn);
}

}  // namespace

void* HoldAlignedRange(const void* p, size_t len) {
  if (p == nullptr || live_any.load(std::memory_order_relaxed) == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mu);
  Allocation* a = FindLocked(reinterpret_cast<uintptr_t>(p), len);
  if (a != nullptr) {
    a->holds++;
    ring_holds++;
  }
  return a;
}

void ReleaseAlignedHold(void* hold) {
  if (hold == nullptr) return;
  Allocation* a = static_cast<Allocation*>(hold);
  std::lock_guard<std::mutex> lock(mu);
  ring_holds--;
  if (--a->holds == 0 && a->finalized) FreeLocked(a);
}

void RegisterAlignedAlloc(napi_env env, napi_value exports) {
  Set(env, exports, "alignedAlloc", AlignedAlloc);
  Set(env, exports, "alignedHold", AlignedHold);
  Set(env, exports, "alignedRelease", AlignedRelease);
  Set(env, exports, "alignedStats", AlignedStats);
}

}  // namespace daio
