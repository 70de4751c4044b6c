#include "simd/code_thesaurus.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "simd/lexical_index.h"

namespace postdevai {
namespace {

// One group a line, members separated by '|'; a member of several words is a
// phrase. Abbreviations first, then words used for the same operation or
// thing. A word the stemmer already maps onto another (allocate and alloc,
// buffer and buf) needs no group.
constexpr std::string_view kGroups[] = {
    // Abbreviations and their words.
    "temporary|temp|tmp|scratch",
    "pointer|ptr",
    "length|len",
    "string|str",
    "number|num",
    "count|cnt",
    "index|idx",
    "error|err",
    "message|msg",
    "configuration|config|cfg|conf",
    "initialize|init",
    "directory|dir|folder",
    "function|func|fn",
    "argument|arg|args",
    "parameter|param|params",
    "variable|var",
    "value|val",
    "previous|prev",
    "current|cur|curr",
    "source|src",
    "destination|dest|dst",
    "request|req",
    "response|resp",
    "context|ctx",
    "database|db",
    "environment|env",
    "implementation|impl",
    "iterator|iter",
    "element|elem",
    "attribute|attr",
    "object|obj",
    "position|pos",
    "reference|ref",
    "sequence|seq",
    "synchronize|sync",
    "asynchronous|async",
    "utility|util|utils",
    "process|proc",
    "regular expression|regex|regexp",
    "double ended queue|deque",
    "first in first out|fifo",
    "last in first out|lifo",
    "character|char|chr",
    "integer|int",
    "boolean|bool",
    "specification|spec",
    "information|info",
    "statistics|stats",
    "maximum|max",
    "minimum|min",
    "command|cmd",
    "package|pkg",
    "library|lib",
    "executable|exe",
    "administrator|admin",
    "authentication|auth",
    "certificate|cert",
    "signature|sig",
    "document|doc|docs",
    "generate|gen",
    "calculate|calc",
    "compare|cmp",
    "address|addr",
    "memory|mem",
    "transaction|txn",
    "expression|expr",
    "connection|conn",
    "random|rand",
    "receive|recv",
    "hexadecimal|hex",
    "millisecond|msec",
    "file descriptor|fd",
    "file name|filename",
    "path name|pathname",
    "host name|hostname",
    "user name|username",
    "time stamp|timestamp",
    "hash table|hashtable",
    "thread pool|threadpool",
    "standard input|stdin",
    "standard output|stdout",
    "standard error|stderr",
    // The same operation or thing in other words.
    "remove|delete|erase",
    "find|search|lookup|locate",
    "destroy|deallocate|dispose",
    "grow|expand|enlarge|reallocate",
    "verify|validate",
    "terminate|kill|abort",
    "split|tokenize",
    "concatenate|concat",
    "compress|deflate",
    "decompress|inflate|uncompress",
    "encrypt|encipher",
    "decrypt|decipher",
    "digest|checksum",
    "mutex|lock",
    "notify|wake",
    "print|display",
    "download|fetch",
    "duplicate|clone",
    "substitute|replace",
    "escape|quote",
    "serialize|marshal|pickle|dump",
    "deserialize|unmarshal|unpickle",
};

struct Thesaurus {
  std::unordered_map<std::string, std::vector<std::size_t>> groups_of_term;  // one-term members
  struct Phrase {
    std::vector<std::string> terms;
    std::size_t group;
  };
  std::vector<Phrase> phrases;                               // members of several terms
  std::vector<std::vector<std::vector<std::string>>> groups;  // each member's terms

  Thesaurus() {
    for (std::string_view line : kGroups) {
      const std::size_t g = groups.size();
      auto& members = groups.emplace_back();
      while (!line.empty()) {
        const std::size_t bar = line.find('|');
        std::vector<std::string> terms = LexicalTerms(line.substr(0, bar));
        line = bar == std::string_view::npos ? std::string_view() : line.substr(bar + 1);
        if (terms.empty()) continue;
        if (terms.size() == 1) {
          auto& of = groups_of_term[terms[0]];
          if (std::find(of.begin(), of.end(), g) == of.end()) of.push_back(g);
        } else {
          phrases.push_back({terms, g});
        }
        members.push_back(std::move(terms));
      }
    }
  }
};

const Thesaurus& TheThesaurus() {
  static const Thesaurus thesaurus;
  return thesaurus;
}

}  // namespace

std::vector<std::string> RelatedTerms(const std::vector<std::string>& query_terms,
                                      const std::function<bool(const std::string&)>& expand) {
  const Thesaurus& t = TheThesaurus();
  std::vector<std::size_t> matched;
  auto match = [&](std::size_t g) {
    if (std::find(matched.begin(), matched.end(), g) == matched.end()) matched.push_back(g);
  };
  for (const std::string& term : query_terms) {
    if (auto it = t.groups_of_term.find(term); it != t.groups_of_term.end() && expand(term)) {
      for (std::size_t g : it->second) match(g);
    }
  }
  for (const auto& phrase : t.phrases) {
    if (std::none_of(phrase.terms.begin(), phrase.terms.end(), expand)) continue;
    if (std::search(query_terms.begin(), query_terms.end(), phrase.terms.begin(), phrase.terms.end()) !=
        query_terms.end()) {
      match(phrase.group);
    }
  }
  std::vector<std::string> related;
  for (std::size_t g : matched) {
    for (const auto& member : t.groups[g]) {
      for (const std::string& term : member) {
        if (std::find(query_terms.begin(), query_terms.end(), term) == query_terms.end() &&
            std::find(related.begin(), related.end(), term) == related.end()) {
          related.push_back(term);
        }
      }
    }
  }
  return related;
}

}  // namespace postdevai
