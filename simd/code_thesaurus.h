// Query expansion for code search. Code names things by abbreviations (buf,
// ptr, len, tmp, deque, regex) and often by other words than a question's
// (erase for remove, lookup for find, scratch for temporary). The thesaurus
// holds groups of interchangeable words and phrases of programming; for a
// query it gives the index terms of the other members of every group that a
// query term, or a run of consecutive query terms (a phrase: "double ended
// queue"), belongs to. The lexical index expands only the query terms that
// are rare in its files (LexicalIndex::Options::related_term_max_files):
// where the code already uses the question's word, its other names add
// only noise.
//
// The groups are general vocabulary of code, not tuned to any one code tree.
// CAF-free; thread-safe (the table is built once, on first use).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace postdevai {

// The terms (as LexicalTerms makes them) related to `query_terms` (LexicalTerms
// of the query, in order) that are not among them: each once, in the order
// found.
// A query term leads to its group only when `expand(term)` says so; a phrase
// when it does for at least one of the phrase's terms.
std::vector<std::string> RelatedTerms(const std::vector<std::string>& query_terms,
                                      const std::function<bool(const std::string&)>& expand);

}  // namespace postdevai
