// Force-included (-include) into every translation unit of a release
// prebuild by scripts/prebuild.js; never used by a build from source.
//
// Purpose: keep the prebuilt addon loadable on glibc 2.28 (the oldest glibc
// Node.js 20's own binaries support) and libstdc++ from GCC 5+, although the
// release machine has a newer toolchain. A build binds a few calls to newer
// symbol versions; each is redirected here to an equivalent that older
// libraries also export. `npm run prebuild` checks the result with objdump.
#pragma once
#include <features.h>  // defines __GLIBC__
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __cplusplus
#include <cstdlib>  // defines __GLIBCXX__
#endif

#if defined(__linux__) && defined(__GLIBC__)
// glibc 2.33 made fstat() an exported symbol (fstat64@GLIBC_2.33); before,
// it was an inline wrapper around __fxstat64. The raw syscall works with
// every glibc: on x86_64 and aarch64 the kernel's struct stat is glibc's.
static inline int direct_aio_compat_fstat(int fd, struct stat* st) {
  return static_cast<int>(::syscall(SYS_fstat, fd, st));
}
#define fstat(fd, st) direct_aio_compat_fstat((fd), (st))
#endif

#if defined(__cplusplus) && defined(__GLIBCXX__)
// GCC 11+ headers call std::__throw_bad_array_new_length() for new T[n] with
// a run-time n; libstdc++ exports it only from GLIBCXX_3.4.29 (GCC 11). The
// addon is built with -fno-exceptions, where a throw means abort anyway.
// Hidden + weak keeps the definition private to the addon and lets the
// translation units share one copy.
namespace std {
__attribute__((weak, visibility("hidden"), noreturn)) void __throw_bad_array_new_length() { ::abort(); }
}  // namespace std
#endif
