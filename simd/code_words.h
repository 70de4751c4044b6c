// How source text splits into words and identifier parts: one definition for
// the built-in lexical embedder (simd/lexical_embedder.h) and the lexical
// index (simd/lexical_index.h), so both see the same tokens.
//  * A word is a maximal run of letters, digits, '_' and UTF-8 bytes >= 0x80
//    (letters of other scripts, kept whole).
//  * A word splits into identifier parts at '_', at camelCase boundaries
//    (getUserName -> get user name, HTTPServer -> http server) and between
//    letters and digits (utf8 -> utf 8); parts are lower-cased (ASCII).
// Header-only; no state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postdevai::words {

enum class CharClass { kOther, kUpper, kLower, kDigit, kUnderscore };

inline CharClass Classify(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return CharClass::kUpper;
  if (c >= 'a' && c <= 'z') return CharClass::kLower;
  if (c >= '0' && c <= '9') return CharClass::kDigit;
  if (c == '_') return CharClass::kUnderscore;
  if (c >= 0x80) return CharClass::kLower;
  return CharClass::kOther;
}

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

// Calls on_part(part) for each lower-cased part of the identifier `word`;
// `scratch` holds the part (reused between calls to save allocations).
template <class OnPart>
void SplitIdentifier(std::string_view word, std::string& scratch, OnPart&& on_part) {
  std::size_t start = 0;
  auto emit = [&](std::size_t end) {
    if (end > start) {
      scratch.assign(word.substr(start, end - start));
      for (char& c : scratch) c = Lower(c);
      on_part(scratch);
    }
  };
  for (std::size_t i = 0; i < word.size(); ++i) {
    const CharClass cur = Classify(static_cast<unsigned char>(word[i]));
    if (cur == CharClass::kUnderscore) {
      emit(i);
      start = i + 1;
      continue;
    }
    if (i == start) continue;
    const CharClass prev = Classify(static_cast<unsigned char>(word[i - 1]));
    bool boundary = false;
    if (prev == CharClass::kLower && cur == CharClass::kUpper) boundary = true;      // userName
    if ((prev == CharClass::kDigit) != (cur == CharClass::kDigit)) boundary = true;  // utf8 -> utf 8
    if (prev == CharClass::kUpper && cur == CharClass::kUpper && i + 1 < word.size() &&
        Classify(static_cast<unsigned char>(word[i + 1])) == CharClass::kLower) {
      boundary = true;  // HTTPServer -> HTTP Server
    }
    if (boundary) {
      emit(i);
      start = i;
    }
  }
  emit(word.size());
}

// Calls on_word(word) for each maximal run of identifier characters.
template <class OnWord>
void ForEachWord(std::string_view text, OnWord&& on_word) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && Classify(static_cast<unsigned char>(text[i])) == CharClass::kOther) ++i;
    const std::size_t begin = i;
    while (i < text.size() && Classify(static_cast<unsigned char>(text[i])) != CharClass::kOther) ++i;
    if (i > begin) on_word(text.substr(begin, i - begin));
  }
}

}  // namespace postdevai::words
