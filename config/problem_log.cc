#include "config/problem_log.h"

#include <algorithm>
#include <cstdio>

namespace postdevai::config {

namespace {

// A problem is one line: a line break or other control character that the
// text carries (a quoted key, a value, the character toml++ saw) is escaped.
std::string OneLine(std::string text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\x%02x", ch);
      out += escape;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

}  // namespace

SourcePosition ProblemLog::PositionOf(std::string_view key) const {
  auto it = origin_->positions.find(key);
  return it == origin_->positions.end() ? SourcePosition{} : it->second;
}

void ProblemLog::Add(std::string_view key, std::string_view what) {
  std::string text(key);
  text += ": ";
  text += what;
  AddAtPosition(PositionOf(key), std::move(text));
}

void ProblemLog::AddAt(std::string_view anchor_key, std::string text) {
  AddAtPosition(PositionOf(anchor_key), std::move(text));
}

void ProblemLog::AddAtPosition(SourcePosition position, std::string text) {
  std::string line;
  if (!origin_->source_name.empty()) {
    line = origin_->source_name;
    if (position.line > 0) {
      line += ':' + std::to_string(position.line) + ':' + std::to_string(position.column);
    }
    line += ": ";
  }
  line += text;
  entries_.push_back({position, OneLine(std::move(line))});
}

std::vector<std::string> ProblemLog::Lines() const {
  std::vector<Entry> sorted = entries_;
  // Unlocated problems (line 0) sort after every located one.
  auto order = [](const SourcePosition& p) {
    return std::pair(p.line == 0 ? UINT32_MAX : p.line, p.column);
  };
  std::stable_sort(sorted.begin(), sorted.end(), [&](const Entry& a, const Entry& b) {
    return order(a.position) < order(b.position);
  });
  std::vector<std::string> lines;
  lines.reserve(sorted.size());
  for (Entry& e : sorted) lines.push_back(std::move(e.line));
  return lines;
}

void ProblemLog::AppendTo(std::vector<std::string>* out) const {
  if (out == nullptr) return;
  for (std::string& line : Lines()) out->push_back(std::move(line));
}

Status ProblemLog::ToStatus() const {
  if (entries_.empty()) return Status::Ok();
  std::string message;
  for (const std::string& line : Lines()) {
    if (!message.empty()) message += '\n';
    message += line;
  }
  return Status::InvalidArgument(std::move(message));
}

}  // namespace postdevai::config
