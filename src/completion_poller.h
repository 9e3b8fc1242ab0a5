// The single completion path: one uv_poll_t watching a ring's eventfd on the
// thread's own libuv loop. The owner drains the ring and calls into JS once
// per batch; this class only owns the libuv handle and its lifetime.
#pragma once

#include <uv.h>

namespace daio {

class CompletionPoller {
 public:
  typedef void (*ReadableFn)(void* owner);
  CompletionPoller(uv_loop_t* loop, int fd, ReadableFn fn, void* owner);
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
    ReadableFn fn;
    void* owner;
  };
  static void OnPoll(uv_poll_t* h, int status, int events);
  static void OnClose(uv_handle_t* h);
  Handle* handle_ = nullptr;
  bool started_ = false;
};

}  // namespace daio
