#include "completion_poller.h"

namespace daio {

CompletionPoller::CompletionPoller(uv_loop_t* loop, int fd, ReadableFn fn,
                                   void* owner) {
  handle_ = new Handle();
  handle_->fn = fn;
  handle_->owner = owner;
  if (uv_poll_init(loop, &handle_->poll, fd) != 0) {
    delete handle_;
    handle_ = nullptr;
    return;
  }
  handle_->poll.data = handle_;
  uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
}

CompletionPoller::~CompletionPoller() { Close(); }

int CompletionPoller::Start() {
  if (!handle_) return UV_EINVAL;
  int r = uv_poll_start(&handle_->poll, UV_READABLE, OnPoll);
  if (r == 0) started_ = true;
  return r;
}

void CompletionPoller::Ref() {
  if (handle_) uv_ref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
}

void CompletionPoller::Unref() {
  if (handle_) uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
}

void CompletionPoller::Close() {
  if (!handle_) return;
  handle_->owner = nullptr;
  if (started_) uv_poll_stop(&handle_->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->poll), OnClose);
  handle_ = nullptr;
}

void CompletionPoller::OnPoll(uv_poll_t* h, int status, int) {
  Handle* self = static_cast<Handle*>(h->data);
  if (status < 0 || !self->owner) return;
  self->fn(self->owner);
}

void CompletionPoller::OnClose(uv_handle_t* h) {
  delete static_cast<Handle*>(h->data);
}

}  // namespace daio
