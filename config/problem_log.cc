#include "config/problem_log.h"

#include <algorithm>

namespace postdevai::config {

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
  entries_.push_back({position, std::move(line)});
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
