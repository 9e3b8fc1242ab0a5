#include "completion_poller.h"

namespace daio {

CompletionPoller::CompletionPoller(napi_env env, uv_loop_t* loop, int fd,
                                   OwnerFn on_readable, OwnerFn on_env_exit,
                                   void* owner) {
  Handle* h = new Handle();
  h->readable = on_readable;
  h->env_exit = on_env_exit;
  h->owner = owner;
  h->hook = nullptr;
  h->closing = false;
  h->started = false;
  if (uv_poll_init(loop, &h->poll, fd) != 0) {
    delete h;
    return;
  }
  h->poll.data = h;
  uv_unref(reinterpret_cast<uv_handle_t*>(&h->poll));
  napi_add_async_cleanup_hook(env, OnEnvExit, h, &h->hook);
  handle_ = h;
}

CompletionPoller::~CompletionPoller() { Close(); }

int CompletionPoller::Start() {
  if (!handle_) return UV_EINVAL;
  int r = uv_poll_start(&handle_->poll, UV_READABLE, OnPoll);
  if (r == 0) handle_->started = true;
  return r;
}

void CompletionPoller::Ref() {
  if (handle_) uv_ref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
}

void CompletionPoller::Unref() {
  if (handle_) uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
}

void CompletionPoller::BeginClose(Handle* h) {
  if (h->closing) return;
  h->closing = true;
  h->owner = nullptr;
  if (h->started) uv_poll_stop(&h->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), OnClose);
}

void CompletionPoller::Close() {
  if (!handle_) return;
  BeginClose(handle_);
  handle_ = nullptr;
}

void CompletionPoller::OnPoll(uv_poll_t* h, int status, int) {
  Handle* self = static_cast<Handle*>(h->data);
  if (status < 0 || !self->owner) return;
  self->readable(self->owner);
}

void CompletionPoller::OnEnvExit(napi_async_cleanup_hook_handle, void* arg) {
  Handle* h = static_cast<Handle*>(arg);
  // The owner drains the kernel (blocking) and then closes us through
  // Close(); if it is already gone, close here.
  if (h->owner) h->env_exit(h->owner);
  BeginClose(h);
}

void CompletionPoller::OnClose(uv_handle_t* uvh) {
  Handle* h = static_cast<Handle*>(uvh->data);
  if (h->hook) napi_remove_async_cleanup_hook(h->hook);
  delete h;
}

}  // namespace daio
