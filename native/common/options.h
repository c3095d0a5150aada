// Readers for the plain option objects the JS side passes to constructors and calls: a field of
// the wrong type (or absent) reads as the default, so each binding states its defaults once, at
// the call, and validation of required fields stays explicit where it matters.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace pc::opts {

// The object at info[i], or an empty object when the caller passed none (or a non-object).
inline Napi::Object Arg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].IsObject() ? info[i].As<Napi::Object>() : Napi::Object::New(info.Env());
}

inline bool Bool(const Napi::Object& o, const char* key, bool def = false) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}

inline std::string String(const Napi::Object& o, const char* key, const std::string& def = "") {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : def;
}

inline uint32_t Uint32(const Napi::Object& o, const char* key, uint32_t def = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : def;
}

inline int64_t Int64(const Napi::Object& o, const char* key, int64_t def = 0) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : def;
}

}  // namespace pc::opts
