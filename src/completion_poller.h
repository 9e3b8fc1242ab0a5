// The single completion path: one uv_poll_t watching a ring's eventfd on the
// thread's own libuv loop. The owner drains the ring and calls into JS once
// per batch; this class only owns the libuv handle and its lifetime.
//
// Lifetime across environment teardown (worker.terminate(), process exit):
// an async cleanup hook is registered for as long as the handle exists. When
// the environment goes away the hook tells the owner to drain the kernel and
// closes the handle; the hook is removed only from the handle's close
// callback, so Node does not unload the addon while libuv still holds a
// callback into it.
#pragma once

#include <node_api.h>
#include <uv.h>

namespace daio {

class CompletionPoller {
 public:
  typedef void (*OwnerFn)(void* owner);
  CompletionPoller(napi_env env, uv_loop_t* loop, int fd, OwnerFn on_readable,
                   OwnerFn on_env_exit, void* owner);
  ~CompletionPoller();
  int Start();
  // A poll handle keeps the loop alive only while operations are in flight.
  void Ref();
  void Unref();
  // Stops watching and frees the handle asynchronously; no callback reaches
  // the owner after this returns.
  void Close();

 private:
  struct Handle {
    uv_poll_t poll;
    OwnerFn readable;
    OwnerFn env_exit;
    void* owner;
    napi_async_cleanup_hook_handle hook;
    bool closing;
    bool started;
  };
  static void OnPoll(uv_poll_t* h, int status, int events);
  static void OnClose(uv_handle_t* h);
  static void OnEnvExit(napi_async_cleanup_hook_handle hook, void* arg);
  static void BeginClose(Handle* h);
  Handle* handle_ = nullptr;
};

}  // namespace daio
