// Collects the problems found while checking one config, each as one line
// "<source>:<line>:<column>: <text>", located where the key concerned was
// written (see ConfigOrigin). Internal to config/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "postdevai/config.h"
#include "postdevai/status.h"

namespace postdevai::config {

class ProblemLog {
 public:
  // `origin` must outlive the log; it may still be filled in while problems
  // are added (ParseConfig records positions as it walks the document).
  explicit ProblemLog(const ConfigOrigin* origin) : origin_(origin) {}

  // "<where key was written>: <key>: <what>".
  void Add(std::string_view key, std::string_view what);
  // "<where anchor_key was written>: <text>" — for problems that concern
  // several keys, or whose text names the key itself.
  void AddAt(std::string_view anchor_key, std::string text);
  // "<source>:<position>: <text>" — for places no key names (syntax errors).
  void AddAtPosition(SourcePosition position, std::string text);

  bool empty() const { return entries_.empty(); }

  // The lines in source order (line, then column); problems without a
  // position follow, in the order they were added.
  std::vector<std::string> Lines() const;

  // Appends Lines() to *out when out is non-null.
  void AppendTo(std::vector<std::string>* out) const;

  // ok when empty, else kInvalidArgument with Lines() joined by '\n'.
  Status ToStatus() const;

 private:
  struct Entry {
    SourcePosition position;
    std::string line;
  };

  SourcePosition PositionOf(std::string_view key) const;

  const ConfigOrigin* origin_;
  std::vector<Entry> entries_;
};

}  // namespace postdevai::config
