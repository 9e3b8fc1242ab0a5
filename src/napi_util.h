// Raw Node-API helpers for the entry points JS calls. Every call's status is
// checked and a failure returns early, never throws: while an environment
// terminates (worker.terminate(), process exit) calls that would run JS fail,
// and node-addon-api's throwing wrappers would abort the whole process.
#pragma once

#include <node_api.h>
#include <stdint.h>
#include <string.h>

namespace daio {

inline napi_value Num(napi_env env, double v) {
  napi_value r = nullptr;
  if (napi_create_double(env, v, &r) != napi_ok) return nullptr;
  return r;
}

inline napi_value Obj(napi_env env) {
  napi_value r = nullptr;
  if (napi_create_object(env, &r) != napi_ok) return nullptr;
  return r;
}

// Setters: no-ops on a null object or value; true if the property was set.
inline bool SetVal(napi_env env, napi_value obj, const char* key, napi_value v) {
  return obj && v && napi_set_named_property(env, obj, key, v) == napi_ok;
}

inline bool SetNum(napi_env env, napi_value obj, const char* key, double v) {
  return SetVal(env, obj, key, Num(env, v));
}

inline bool SetBool(napi_env env, napi_value obj, const char* key, bool b) {
  napi_value v = nullptr;
  if (napi_get_boolean(env, b, &v) != napi_ok) return false;
  return SetVal(env, obj, key, v);
}

inline bool SetStr(napi_env env, napi_value obj, const char* key, const char* s) {
  napi_value v = nullptr;
  if (napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v) != napi_ok) return false;
  return SetVal(env, obj, key, v);
}

// Number arguments: false if `v` is missing or not a number.
inline bool ArgDouble(napi_env env, napi_value v, double* out) {
  return v && napi_get_value_double(env, v, out) == napi_ok;
}

inline bool ArgInt64(napi_env env, napi_value v, int64_t* out) {
  return v && napi_get_value_int64(env, v, out) == napi_ok;
}

inline bool ArgInt32(napi_env env, napi_value v, int32_t* out) {
  return v && napi_get_value_int32(env, v, out) == napi_ok;
}

inline bool ArgUint32(napi_env env, napi_value v, uint32_t* out) {
  return v && napi_get_value_uint32(env, v, out) == napi_ok;
}

// Throw an Error (or TypeError) with optional errno/syscall properties.
// Best effort: while the environment terminates nothing can be thrown, and
// the caller returns nullptr either way.
inline void ThrowError(napi_env env, const char* message, bool type_error = false,
                       int err = 0, const char* syscall = nullptr) {
  napi_value msg = nullptr, e = nullptr;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return;
  napi_status st = type_error ? napi_create_type_error(env, nullptr, msg, &e)
                              : napi_create_error(env, nullptr, msg, &e);
  if (st != napi_ok) return;
  if (err) SetNum(env, e, "errno", err);
  if (syscall) SetStr(env, e, "syscall", syscall);
  napi_throw(env, e);
}

// Up to N arguments and `this`; false if the call info cannot be read.
template <size_t N>
struct Args {
  napi_value argv[N] = {};
  size_t argc = N;
  napi_value self = nullptr;
  void* data = nullptr;
  bool Read(napi_env env, napi_callback_info info) {
    if (napi_get_cb_info(env, info, &argc, argv, &self, &data) != napi_ok) return false;
    for (size_t i = argc; i < N; i++) argv[i] = nullptr;
    return true;
  }
};

}  // namespace daio
