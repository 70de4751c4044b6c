// A JSON value for postdevai-cli's --json output: built in code, printed as
// one line. Object keys keep their insertion order so that output reads in
// the order the command computed it.
//
// Strings must be UTF-8 to be valid JSON: Json::String escapes control
// characters, and the caller decides what to do with bytes that are not
// UTF-8 (IsValidUtf8; the CLI sends such content as base64 instead).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace postdevai::cli {

class Json {
 public:
  using Object = std::vector<std::pair<std::string, Json>>;
  using Array = std::vector<Json>;

  Json() : value_(nullptr) {}  // null
  Json(std::nullptr_t) : value_(nullptr) {}
  Json(bool b) : value_(b) {}
  Json(int n) : value_(static_cast<std::int64_t>(n)) {}
  Json(std::int64_t n) : value_(n) {}
  Json(std::uint64_t n) : value_(n) {}
  Json(unsigned n) : value_(static_cast<std::uint64_t>(n)) {}
  Json(double d) : value_(d) {}  // NaN and infinities print as null
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  Json(std::string_view s) : value_(std::string(s)) {}
  Json(Array a) : value_(std::move(a)) {}

  static Json MakeObject() { Json j; j.value_ = Object{}; return j; }
  static Json MakeArray() { Json j; j.value_ = Array{}; return j; }

  // Adds key: value to an object (the value must be an object); returns *this.
  Json& Set(std::string key, Json value);
  // Appends to an array (the value must be an array).
  Json& Push(Json value);

  // One line, no trailing newline.
  std::string Dump() const;

 private:
  void DumpTo(std::string* out) const;
  std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, std::string, Array, Object> value_;
};

bool IsValidUtf8(std::string_view s);
std::string Base64Encode(std::string_view bytes);

}  // namespace postdevai::cli
