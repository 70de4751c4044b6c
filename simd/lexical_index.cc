#include "simd/lexical_index.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_set>

#include "records/stored_values.h"
#include "simd/code_thesaurus.h"
#include "simd/code_words.h"
#include "simd/lexical_embedder.h"

namespace postdevai {
namespace {

// English function words: in a question they say nothing about which file is
// meant. Words of code (get, set, string, type) stay: BM25's idf weighs them.
const std::unordered_set<std::string_view>& StopWords() {
  static const std::unordered_set<std::string_view> words = {
      "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "been", "being", "but", "by", "can",
      "could", "did", "do", "does", "doing", "each", "for", "from", "had", "has", "have", "having", "he", "her",
      "here", "his", "how", "i", "in", "into", "is", "it", "its", "itself", "me", "more", "most", "my", "of",
      "on", "once", "only", "or", "other", "our", "out", "over", "own", "same", "she", "should", "so", "some",
      "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to",
      "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
      "who", "whom", "why", "will", "with", "would", "you", "your"};
  return words;
}

constexpr std::size_t kMinStem = 3;
constexpr std::size_t kLongestTerm = 64;  // longer runs (hashes, base64) are not words

// Longest first, so the first match is the longest.
const std::vector<std::string_view>& Suffixes() {
  static const std::vector<std::string_view> suffixes = [] {
    std::vector<std::string_view> s = {
        "izations", "ization", "ations", "ation", "ators", "ator", "ating", "ated", "ates", "ate",
        "ements",   "ement",   "ments",  "ment",  "nesses", "ness", "ities", "ity",  "ings", "ing",
        "ions",     "ion",     "ables",  "able",  "ibles", "ible", "izes",  "ized", "izer", "ize",
        "ises",     "ised",    "iser",   "ise",   "ives",  "ive",  "ally",  "ers",  "er",   "ed",
        "ies",      "es",      "ly",     "al",    "s",     "e"};
    std::stable_sort(s.begin(), s.end(), [](auto a, auto b) { return a.size() > b.size(); });
    return s;
  }();
  return suffixes;
}

bool IsVowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

// One suffix off `term`, if one leaves a stem of kMinStem letters or more.
bool StripOnce(std::string& term) {
  for (std::string_view suffix : Suffixes()) {
    if (term.size() < suffix.size() + kMinStem || !std::string_view(term).ends_with(suffix)) continue;
    const std::size_t stem = term.size() - suffix.size();
    if (suffix == "s") {
      const char before = term[stem - 1];
      if (before == 's' || before == 'u' || before == 'i') continue;  // class, status, analysis
    }
    term.resize(stem);
    if (suffix == "ies") term += 'y';
    // mapping -> mapp -> map; but fill, class and buzz keep their pairs.
    const std::size_t n = term.size();
    if (n >= 4 && term[n - 1] == term[n - 2] && !IsVowel(term[n - 1]) && term[n - 1] != 'l' && term[n - 1] != 's' &&
        term[n - 1] != 'z') {
      term.pop_back();
    }
    return true;
  }
  return false;
}

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

float Idf(std::size_t files, std::size_t df) {
  return std::log(1.0f + (static_cast<float>(files) - static_cast<float>(df) + 0.5f) / (static_cast<float>(df) + 0.5f));
}

}  // namespace

std::string StemTerm(std::string_view part) {
  std::string term(part);
  if (AllDigits(term)) return term;
  // Two rounds: allocated -> allocat? no: "ated" goes at once; buffering ->
  // buffer -> buff -> buf needs the second.
  if (StripOnce(term)) StripOnce(term);
  return term;
}

std::vector<std::string> LexicalTerms(std::string_view text) {
  std::vector<std::string> terms;
  std::string scratch, whole;
  words::ForEachWord(text, [&](std::string_view word) {
    whole.clear();
    std::size_t parts = 0;
    words::SplitIdentifier(word, scratch, [&](const std::string& part) {
      whole += part;
      ++parts;
      if (part.size() < 2 || part.size() > kLongestTerm || StopWords().count(part)) return;
      terms.push_back(StemTerm(part));
    });
    if (parts >= 2 && whole.size() <= kLongestTerm) terms.push_back(whole);
  });
  return terms;
}

LexicalIndex::LexicalIndex(Options options) : options_(options) {}

void LexicalIndex::PutCode(std::string_view key, std::string_view path, std::string_view language,
                           std::string_view content) {
  Remove(key);
  File file;
  file.key = std::string(key);
  file.path = std::string(path);
  file.language = std::string(language);
  auto chunks = records::SplitIntoChunks(content);
  if (chunks.empty()) chunks.push_back(content);  // an empty file is one (empty) chunk, as its vectors are
  AddUnit(std::move(file), chunks, path);
}

namespace {

std::string MessageKey(std::string_view session, std::uint64_t number) {
  std::string key(session);
  key.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(number >> shift));
  return key;
}

}  // namespace

void LexicalIndex::PutMessage(std::string_view session, std::uint64_t number, std::string_view text) {
  const std::string key = MessageKey(session, number);
  const std::uint64_t hash = std::hash<std::string_view>{}(text);
  if (auto it = file_of_key_.find(key); it != file_of_key_.end() && files_[it->second].hash == hash) return;
  Remove(key);
  File file;
  file.key = key;
  file.session = std::string(session);
  file.number = number;
  file.hash = hash;
  AddUnit(std::move(file), {text}, {});
  session_numbers_[std::string(session)].insert(number);
}

void LexicalIndex::RemoveMessagesFrom(std::string_view session, std::uint64_t first) {
  auto it = session_numbers_.find(std::string(session));
  if (it == session_numbers_.end()) return;
  auto& numbers = it->second;
  for (auto n = numbers.lower_bound(first); n != numbers.end(); n = numbers.erase(n)) Remove(MessageKey(session, *n));
  if (numbers.empty()) session_numbers_.erase(it);
}

Status LexicalIndex::ApplyHistory(std::string_view key, std::optional<std::string_view> value) {
  if (key.empty()) return Status::Ok();
  if (key.front() != records::kSessionSegmentTag) {  // a session's head
    const std::string session(key);
    if (!value) {
      RemoveMessagesFrom(session, 0);
      segment_ends_.erase(session);
      return Status::Ok();
    }
    auto head = records::DecodeSessionHead(session, *value);
    if (!head.ok()) return head.status();
    for (std::size_t i = 0; i < head->tail.size(); ++i) PutMessage(session, head->sealed_messages + i, head->tail[i]);
    RemoveMessagesFrom(session, head->message_count());
    return Status::Ok();
  }
  // A sealed segment: tag, session, NUL, segment number (8 bytes, big-endian).
  if (key.size() < 10 || key[key.size() - 9] != '\0') return Status::Corruption("malformed session segment key");
  const std::string session(key.substr(1, key.size() - 10));
  std::uint64_t segment = 0;
  for (std::size_t i = key.size() - 8; i < key.size(); ++i) segment = segment << 8 | static_cast<unsigned char>(key[i]);
  auto& ends = segment_ends_[session];
  if (!value) {
    if (ends.size() > segment) ends.resize(segment);
    return Status::Ok();  // its messages go with the head that no longer counts them
  }
  if (segment > ends.size()) {
    return Status::Corruption("session " + session + ": segment " + std::to_string(segment) +
                              " before the ones ahead of it; its messages are not searchable by text");
  }
  auto messages = records::DecodeMessages(session, *value);
  if (!messages.ok()) return messages.status();
  const std::uint64_t first = segment == 0 ? 0 : ends[segment - 1];
  for (std::size_t i = 0; i < messages->size(); ++i) PutMessage(session, first + i, (*messages)[i]);
  ends.resize(segment + 1);
  ends[segment] = first + messages->size();
  return Status::Ok();
}

Status LexicalIndex::Apply(DataKind kind, std::string_view key, std::optional<std::string_view> value) {
  if (kind == DataKind::kHistory) return ApplyHistory(key, value);
  if (kind != DataKind::kCode) return Status::Ok();
  if (!value) {
    Remove(key);
    return Status::Ok();
  }
  auto code = records::DecodeCode(key, *value);
  if (!code.ok()) {
    Remove(key);
    return code.status();
  }
  PutCode(key, code->path, code->language, code->content);
  return Status::Ok();
}

void LexicalIndex::AddUnit(File file, const std::vector<std::string_view>& chunks, std::string_view path) {
  file.first_chunk = static_cast<std::uint32_t>(chunks_.size());
  const auto file_slot = static_cast<std::uint32_t>(files_.size());

  // Counts per term id for the current chunk; the file's distinct terms.
  std::unordered_map<std::uint32_t, std::uint32_t> counts;
  struct FileTerm {
    float tf = 0;                    // the file-level tf
    std::uint32_t first_posting = 0;  // its first chunk posting in Term::postings
  };
  std::unordered_map<std::uint32_t, FileTerm> file_tf;  // the file's terms
  auto term_id = [&](const std::string& term) {
    auto [it, inserted] = term_ids_.try_emplace(term, static_cast<std::uint32_t>(terms_.size()));
    if (inserted) terms_.emplace_back();
    return it->second;
  };
  std::unordered_map<std::uint32_t, std::uint32_t> path_counts;
  std::uint32_t path_length = 0;
  for (const std::string& term : LexicalTerms(path)) {
    ++path_counts[term_id(term)];
    ++path_length;
  }

  std::uint32_t line = 1;
  float length = options_.path_weight * static_cast<float>(path_length);
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    const std::string_view text = chunks[c];
    counts.clear();
    std::uint32_t chunk_length = 0;
    for (const std::string& term : LexicalTerms(text)) {
      ++counts[term_id(term)];
      ++chunk_length;
    }
    const auto chunk_no = static_cast<std::uint32_t>(chunks_.size());
    if (c == 0) {
      for (const auto& [id, n] : path_counts) counts.try_emplace(id, 0);
    }
    // Postings in chunk order within each term: append (chunk numbers only grow).
    for (const auto& [id, n] : counts) {
      std::uint16_t path_tf = 0;
      if (c == 0) {
        auto p = path_counts.find(id);
        if (p != path_counts.end()) path_tf = static_cast<std::uint16_t>(std::min<std::uint32_t>(p->second, 65535));
      }
      auto& postings = terms_[id].postings;
      auto [term, first] = file_tf.try_emplace(id);
      if (first) term->second.first_posting = static_cast<std::uint32_t>(postings.size());
      postings.push_back({chunk_no, static_cast<std::uint16_t>(std::min<std::uint32_t>(n, 65535)), path_tf});
      term->second.tf += static_cast<float>(n) + options_.path_weight * static_cast<float>(path_tf);
    }
    const auto lines = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n'));
    const std::uint32_t last = (lines > 0 && text.back() == '\n') ? line + lines - 1 : line + lines;
    chunks_.push_back({file_slot, line, std::max(line, last), chunk_length});
    line += lines;
    length += static_cast<float>(chunk_length);
    live_chunk_length_ += chunk_length;
  }
  file.chunks = static_cast<std::uint32_t>(chunks.size());
  file.length = length;
  file.terms.reserve(file_tf.size());
  for (const auto& [id, term] : file_tf) {
    file.terms.push_back(id);
    terms_[id].file_postings.push_back({file_slot, term.tf, term.first_posting});
    ++terms_[id].files;
  }
  live_length_ += length;
  live_chunks_ += file.chunks;
  ++live_files_;
  file_of_key_.emplace(file.key, file_slot);
  if (file.session.empty()) file_of_path_[file.path] = file_slot;
  file_length_.push_back(file.length);
  files_.push_back(std::move(file));
}

void LexicalIndex::Remove(std::string_view key) {
  auto it = file_of_key_.find(std::string(key));
  if (it == file_of_key_.end()) return;
  File& file = files_[it->second];
  file_length_[it->second] = -1;
  for (std::uint32_t id : file.terms) --terms_[id].files;
  live_length_ -= file.length;
  for (std::uint32_t c = file.first_chunk; c < file.first_chunk + file.chunks; ++c) {
    live_chunk_length_ -= chunks_[c].length;
  }
  live_chunks_ -= file.chunks;
  --live_files_;
  file.terms.clear();
  file.terms.shrink_to_fit();
  if (auto p = file_of_path_.find(file.path); file.session.empty() && p != file_of_path_.end() && p->second == it->second) {
    file_of_path_.erase(p);
  }
  file_of_key_.erase(it);
  CompactIfMostlyDead();
}

// Renumbers the live chunks and files densely and drops the dead ones'
// postings, once they outnumber the live: replacements then cost amortized
// O(1) postings each, and memory stays within twice the live index.
void LexicalIndex::CompactIfMostlyDead() {
  const std::size_t dead = chunks_.size() - live_chunks_;
  if (dead < 4096 || dead < live_chunks_) return;
  constexpr std::uint32_t kGone = ~std::uint32_t{0};
  std::vector<std::uint32_t> new_chunk(chunks_.size(), kGone);
  std::vector<std::uint32_t> new_file(files_.size(), kGone);
  std::vector<Chunk> chunks;
  std::vector<File> files;
  chunks.reserve(live_chunks_);
  files.reserve(live_files_);
  for (std::size_t old = 0; old < files_.size(); ++old) {
    if (file_length_[old] < 0) continue;  // removed
    File& f = files_[old];
    const auto slot = static_cast<std::uint32_t>(files.size());
    new_file[old] = slot;
    const auto first = static_cast<std::uint32_t>(chunks.size());
    for (std::uint32_t c = f.first_chunk; c < f.first_chunk + f.chunks; ++c) {
      new_chunk[c] = static_cast<std::uint32_t>(chunks.size());
      Chunk moved = chunks_[c];
      moved.file = slot;
      chunks.push_back(moved);
    }
    f.first_chunk = first;
    file_of_key_[f.key] = slot;
    if (f.session.empty()) file_of_path_[f.path] = slot;
    files.push_back(std::move(f));
  }
  // Terms only dead files held go too, so a churning vocabulary (numbers,
  // generated names) does not grow the index forever.
  std::vector<std::uint32_t> new_term(terms_.size(), kGone);
  std::vector<std::uint32_t> new_posting;  // of the term at hand: old posting index -> new
  std::vector<Term> terms;
  for (std::size_t id = 0; id < terms_.size(); ++id) {
    Term& t = terms_[id];
    std::size_t out = 0;
    new_posting.assign(t.postings.size(), kGone);
    for (std::size_t i = 0; i < t.postings.size(); ++i) {
      const Posting& p = t.postings[i];
      if (new_chunk[p.chunk] == kGone) continue;
      new_posting[i] = static_cast<std::uint32_t>(out);
      t.postings[out++] = {new_chunk[p.chunk], p.tf, p.path_tf};
    }
    if (out == 0) continue;
    t.postings.resize(out);
    t.postings.shrink_to_fit();
    std::size_t files_out = 0;
    for (const FilePosting& p : t.file_postings) {
      if (new_file[p.file] != kGone) t.file_postings[files_out++] = {new_file[p.file], p.tf, new_posting[p.first_posting]};
    }
    t.file_postings.resize(files_out);
    t.file_postings.shrink_to_fit();
    new_term[id] = static_cast<std::uint32_t>(terms.size());
    terms.push_back(std::move(t));
  }
  for (auto it = term_ids_.begin(); it != term_ids_.end();) {
    if (new_term[it->second] == kGone) {
      it = term_ids_.erase(it);
    } else {
      it->second = new_term[it->second];
      ++it;
    }
  }
  for (File& f : files) {
    for (std::uint32_t& id : f.terms) id = new_term[id];
  }
  terms_ = std::move(terms);
  chunks_ = std::move(chunks);
  files_ = std::move(files);
  file_length_.clear();
  for (const File& f : files_) file_length_.push_back(f.length);
}

bool LexicalIndex::Admits(const File& f, const records::search_request& filters) const {
  if (!f.session.empty()) {  // a session message: path and language filters are for code
    return filters.owner != records::vector_owner::code_chunk && filters.path_prefix.empty() &&
           filters.language.empty() && (filters.session.empty() || filters.session == f.session);
  }
  if (!filters.path_prefix.empty() && !std::string_view(f.path).starts_with(filters.path_prefix)) return false;
  if (!filters.language.empty() && f.language != filters.language) return false;
  // Code files only: a filter on sessions or history messages admits none.
  if (!filters.session.empty() || filters.owner == records::vector_owner::history_message) return false;
  return true;
}

std::vector<LexicalIndex::FileHit> LexicalIndex::Search(std::string_view text, std::size_t k,
                                                       const records::search_request& filters) const {
  std::vector<FileHit> hits;
  if (k == 0 || live_files_ == 0) return hits;
  // Distinct query terms the index knows, weighted by their counts in the
  // query; then the related ones, each at related_term_weight.
  std::unordered_map<std::uint32_t, float> counted;
  auto known = [&](const std::string& term) -> std::optional<std::uint32_t> {
    auto it = term_ids_.find(term);
    if (it == term_ids_.end() || terms_[it->second].files == 0) return std::nullopt;
    return it->second;
  };
  const std::vector<std::string> terms = LexicalTerms(text);
  for (const std::string& term : terms) {
    if (auto id = known(term)) counted[*id] += 1.0f;
  }
  if (options_.related_term_weight > 0) {
    auto rare = [&](const std::string& term) {
      auto id = known(term);
      const float most = options_.related_term_max_files * static_cast<float>(live_files_);
      return !id || static_cast<float>(terms_[*id].files) < most;
    };
    for (const std::string& term : RelatedTerms(terms, rare)) {
      if (auto id = known(term)) counted.emplace(*id, options_.related_term_weight);
    }
  }
  if (counted.empty()) return hits;
  struct QueryTerm {
    std::uint32_t id;
    float idf;  // times the term's weight in the query (its count, or related_term_weight)
  };
  std::vector<QueryTerm> query;
  for (const auto& [id, n] : counted) {
    query.push_back({id, Idf(live_files_, terms_[id].files) * n});
  }

  const float k1 = options_.k1, b = options_.b;
  const float avg_file = static_cast<float>(live_length_ / static_cast<double>(live_files_));
  const float avg_chunk =
      static_cast<float>(live_chunk_length_ / static_cast<double>(std::max<std::size_t>(1, live_chunks_)));
  const float lambda = options_.best_chunk_weight;

  // 1. File-level BM25 of every admitted file holding a query term, and a
  // bound on its best-chunk part: a chunk's BM25 for a term is below
  // idf * (k1 + 1), whatever its tf.
  // (The loop reads the compact file_length_, not the files: it runs over
  // every posting of the query's terms.)
  file_score_.resize(files_.size(), 0.0f);
  file_bound_.resize(files_.size(), 0.0f);
  touched_slot_.resize(files_.size());
  constexpr std::uint32_t kNoPosting = ~std::uint32_t{0};
  const std::size_t nterms = query.size();
  chunk_starts_.clear();
  // Bounded: a long question over many files finds its candidates' chunk
  // postings by binary search instead.
  bool direct = nterms <= options_.chunk_start_budget;
  const bool filtered = !filters.path_prefix.empty() || !filters.language.empty() || !filters.session.empty() ||
                        filters.owner != records::vector_owner::any;
  const float inverse_avg_file = 1.0f / std::max(avg_file, 1e-6f);
  for (std::size_t q = 0; q < nterms; ++q) {
    const QueryTerm& t = query[q];
    for (const FilePosting& p : terms_[t.id].file_postings) {
      const float length = file_length_[p.file];
      if (length < 0) continue;  // removed
      if (file_bound_[p.file] == 0) {  // first time seen in this query
        if (filtered && !Admits(files_[p.file], filters)) {
          file_bound_[p.file] = -1;  // seen, refused
          touched_files_.push_back(p.file);
          continue;
        }
        touched_slot_[p.file] = static_cast<std::uint32_t>(touched_files_.size());
        touched_files_.push_back(p.file);
        if (direct && touched_files_.size() * nterms > options_.chunk_start_budget) {
          direct = false;
          chunk_starts_.clear();
        }
        if (direct) chunk_starts_.resize(touched_files_.size() * nterms, kNoPosting);
      } else if (file_bound_[p.file] < 0) {
        continue;
      }
      if (direct) chunk_starts_[touched_slot_[p.file] * nterms + q] = p.first_posting;
      const float norm = k1 * (1 - b + b * length * inverse_avg_file);
      file_score_[p.file] += t.idf * p.tf * (k1 + 1) / (p.tf + norm);
      file_bound_[p.file] += t.idf * (k1 + 1);
    }
  }

  // 2. Candidates by bound, best first; the exact best-chunk part for each
  // until no remaining bound can beat the k-th best score found.
  struct Candidate {
    float bound;
    std::uint32_t file;
  };
  std::vector<Candidate> candidates;
  for (std::uint32_t f : touched_files_) {
    if (file_bound_[f] > 0) candidates.push_back({file_score_[f] + lambda * file_bound_[f], f});
  }
  auto lower_bound_first = [](const Candidate& x, const Candidate& y) { return x.bound < y.bound; };
  std::make_heap(candidates.begin(), candidates.end(), lower_bound_first);
  struct Scored {
    float score;
    std::uint32_t file, chunk;
  };
  std::vector<Scored> best;  // the k best so far, any order
  auto kth_best = [&] {
    float worst = best.front().score;
    for (const auto& s : best) worst = std::min(worst, s.score);
    return worst;
  };
  std::vector<float> chunk_scores;
  while (!candidates.empty()) {
    std::pop_heap(candidates.begin(), candidates.end(), lower_bound_first);
    const Candidate c = candidates.back();
    candidates.pop_back();
    if (best.size() >= k && c.bound < kth_best()) break;
    const File& f = files_[c.file];
    chunk_scores.assign(f.chunks, 0.0f);
    for (std::size_t q = 0; q < nterms; ++q) {
      const QueryTerm& t = query[q];
      const auto& postings = terms_[t.id].postings;
      auto it = postings.begin();
      if (direct) {
        const std::uint32_t start = chunk_starts_[touched_slot_[c.file] * nterms + q];
        if (start == kNoPosting) continue;  // the file lacks the term
        it += start;
      } else {
        it = std::lower_bound(postings.begin(), postings.end(), f.first_chunk,
                              [](const Posting& p, std::uint32_t chunk) { return p.chunk < chunk; });
      }
      for (; it != postings.end() && it->chunk < f.first_chunk + f.chunks; ++it) {
        if (it->tf == 0) continue;
        const float tf = it->tf;
        const float norm = k1 * (1 - b + b * static_cast<float>(chunks_[it->chunk].length) / std::max(avg_chunk, 1e-6f));
        chunk_scores[it->chunk - f.first_chunk] += t.idf * tf * (k1 + 1) / (tf + norm);
      }
    }
    std::uint32_t top = 0;
    for (std::uint32_t i = 1; i < f.chunks; ++i) {
      if (chunk_scores[i] > chunk_scores[top]) top = i;
    }
    const float score = file_score_[c.file] + (f.chunks > 0 ? lambda * chunk_scores[top] : 0.0f);
    if (best.size() < k) {
      best.push_back({score, c.file, top});
    } else {
      auto worst = std::min_element(best.begin(), best.end(), [](auto& x, auto& y) { return x.score < y.score; });
      if (score > worst->score) *worst = {score, c.file, top};
    }
  }
  std::sort(best.begin(), best.end(), [&](const Scored& x, const Scored& y) {
    return x.score != y.score ? x.score > y.score : files_[x.file].path < files_[y.file].path;
  });
  for (const Scored& s : best) {
    const File& f = files_[s.file];
    const Chunk& chunk = chunks_[f.first_chunk + s.chunk];
    if (!f.session.empty()) {
      hits.push_back({f.key, {}, {}, f.session, static_cast<std::uint32_t>(f.number), 0, 0, s.score});
    } else {
      hits.push_back({f.key, f.path, f.language, {}, s.chunk, chunk.first_line, chunk.last_line, s.score});
    }
  }
  for (std::uint32_t f : touched_files_) file_score_[f] = file_bound_[f] = 0;
  touched_files_.clear();
  return hits;
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> LexicalIndex::ChunkLines(std::string_view path,
                                                                                std::uint32_t chunk) const {
  auto it = file_of_path_.find(std::string(path));
  if (it == file_of_path_.end()) return std::nullopt;
  const File& f = files_[it->second];
  if (chunk >= f.chunks) return std::nullopt;
  const Chunk& c = chunks_[f.first_chunk + chunk];
  return std::make_pair(c.first_line, c.last_line);
}

std::uint64_t LexicalIndex::RamBytes() const {
  std::uint64_t bytes = chunks_.capacity() * sizeof(Chunk) + files_.capacity() * sizeof(File) +
                        terms_.capacity() * sizeof(Term);
  for (const Term& t : terms_) {
    bytes += t.postings.capacity() * sizeof(Posting) + t.file_postings.capacity() * sizeof(FilePosting);
  }
  for (const File& f : files_) bytes += f.key.capacity() + f.path.capacity() + f.terms.capacity() * 4;
  // Hash maps: a node and a bucket per entry, roughly.
  bytes += term_ids_.size() * (sizeof(std::string) + 32 + 16) + (file_of_key_.size() + file_of_path_.size()) * (sizeof(std::string) + 32 + 16);
  for (const auto& [term, id] : term_ids_) bytes += term.size() > 15 ? term.capacity() : 0;
  return bytes;
}

}  // namespace postdevai

namespace postdevai {

float HybridLexicalWeight(std::string_view model) { return model == LexicalEmbedder::kModelName ? 100.0f : 1.0f; }

std::vector<records::search_hit> LexicalResults(const std::vector<LexicalIndex::FileHit>& lexical_hits) {
  std::vector<records::search_hit> out;
  out.reserve(lexical_hits.size());
  for (const auto& h : lexical_hits) {
    records::search_hit hit;
    hit.path = h.path;
    hit.session = h.session;
    hit.language = h.language;
    hit.chunk = h.chunk;
    hit.first_line = h.first_line;
    hit.last_line = h.last_line;
    hit.score = h.score;
    hit.lexical_score = h.score;
    out.push_back(std::move(hit));
  }
  return out;
}

std::vector<records::search_hit> FuseHybrid(const std::vector<records::search_hit>& vector_hits,
                                            const std::vector<records::search_hit>& lexical_hits,
                                            const LexicalIndex* index, std::size_t k, float lexical_weight) {
  // By file path, or session + message for history hits.
  std::unordered_map<std::string, std::size_t> slot;
  std::vector<records::search_hit> fused;
  auto unit_of = [](const records::search_hit& h) {
    return h.session.empty() ? "p" + h.path : "s" + h.session + '\0' + std::to_string(h.chunk);
  };
  std::size_t rank = 0;
  for (const auto& h : vector_hits) {  // best first
    auto [it, inserted] = slot.try_emplace(unit_of(h), fused.size());
    if (!inserted) continue;  // a later chunk of a file already ranked
    ++rank;
    records::search_hit hit = h;
    hit.vector_score = h.score;
    hit.lexical_score = 0;
    hit.score = 1.0f / (kRrfRank + static_cast<float>(rank));
    if (h.session.empty() && index != nullptr) {
      if (auto lines = index->ChunkLines(h.path, h.chunk)) {
        hit.first_line = lines->first;
        hit.last_line = lines->second;
      }
    }
    fused.push_back(std::move(hit));
  }
  rank = 0;
  for (const auto& h : lexical_hits) {
    ++rank;
    const float part = lexical_weight / (kRrfRank + static_cast<float>(rank));
    auto [it, inserted] = slot.try_emplace(unit_of(h), fused.size());
    if (inserted) {
      records::search_hit hit;
      hit.path = h.path;
      hit.language = h.language;
      hit.session = h.session;
      fused.push_back(std::move(hit));
    }
    records::search_hit& hit = fused[it->second];
    hit.score += part;
    hit.lexical_score = h.lexical_score;
    // The chunk where the words are is the one to show.
    hit.chunk = h.chunk;
    if (h.first_line > 0) {
      hit.first_line = h.first_line;
      hit.last_line = h.last_line;
    }
  }
  const std::size_t n = std::min(k, fused.size());
  std::partial_sort(fused.begin(), fused.begin() + static_cast<std::ptrdiff_t>(n), fused.end(),
                    [](const auto& x, const auto& y) { return x.score != y.score ? x.score > y.score : x.path < y.path; });
  fused.resize(n);
  return fused;
}

}  // namespace postdevai
