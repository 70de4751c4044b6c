// LexicalIndex: BM25 keyword search over stored code files or session
// messages, and the fusion of its ranking with the vector index's (hybrid
// search). The code partition actor owns one over code files, the history
// partition actor one over session messages; each updates it with every
// write it applies, so a write, a replacement and a delete are reflected in
// the next search after they are acknowledged. CAF-free.
//
// Terms (LexicalTerms): the words of simd/code_words.h split into identifier
// parts, lower-cased, English stop words and one-letter parts dropped, each
// part reduced by a light suffix stemmer (allocate / allocated / allocation /
// allocator -> "alloc"); an identifier of several parts also counts whole
// ("getusername"), unstemmed: the most specific signal.
//
// Queries are expanded by simd/code_thesaurus.h: the query's terms that are
// rare in the files bring the terms related to them (abbreviations, other
// words for the same thing), counted at Options::related_term_weight.
//
// Scoring: BM25 per file (k1 1.2, b 0.75) over two fields, the file's path
// (its terms count path_weight times) and its content, plus 3 times the BM25
// of the file's best chunk (records::SplitIntoChunks, the same chunks the
// vectors describe): words found together count more than words scattered
// over a long file. The best chunk names the lines to show.
// Search is exact and exhaustive over the files holding a query term, so
// filters never starve a result: it returns min(k, files matching) files.
// It scores files from file-level postings, then adds the best-chunk part
// only for files whose bound (file score + every matching term's largest
// possible chunk score) can still reach the k-th best: chunk postings are
// read for a few candidate files, not for every file.
//
// A session message is a unit of its own (one chunk, no path), keyed by its
// session and number; the history partition's index holds only those.
//
// Memory: 8 bytes per distinct term of each chunk, 12 of each file. A
// replaced or deleted file's postings stay until the dead chunks outnumber
// the live ones; then the index is compacted in place (O(postings)).
//
// Thread-safety: none; one owner (its partition actor), like VectorIndex.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "postdevai/records.h"

namespace postdevai {

// The index terms of `text`, in order, repeats kept.
std::vector<std::string> LexicalTerms(std::string_view text);

// The light stemmer LexicalTerms applies to each lower-cased part.
std::string StemTerm(std::string_view part);

class LexicalIndex {
 public:
  struct Options {
    float k1 = 1.2f;
    float b = 0.75f;
    float path_weight = 3.0f;  // a term of the path counts this many times
    // A file's score is its BM25 plus this times its best chunk's BM25. A
    // question describes one behaviour, which one chunk implements: on the
    // five sets of bench/search_quality, 3 (against 1) raised hybrid hit@5
    // on libstdc++ from 0.846 to 0.885 and on Perl from 0.846 to 0.923, and
    // left the other three (two of them held out) as they were; 6 cost the
    // held-out CAF set a question.
    float best_chunk_weight = 3.0f;
    // A query term that is rare in the files (in fewer than this fraction
    // of them, or in none) also looks for the terms related to it
    // (code_thesaurus.h: temporary for scratch, deque for double ended
    // queue), each weighted related_term_weight times an original term; 0: no
    // expansion. A rare word of the question is likely one the code says
    // otherwise; a common one the code already uses, and expanding it only
    // adds noise. On the five sets of bench/search_quality (max_files 0.03,
    // weight 1): libstdc++ hybrid hit@5 0.885 -> 0.962, MRR up on Perl, the
    // other sets unchanged; expanding every term (weight 0.5) lost a question
    // on CAF and two on Python.
    float related_term_max_files = 0.03f;
    float related_term_weight = 1.0f;
    // Entries (4 bytes each) a search may note, per candidate file and query
    // term, of where the file's chunk postings start; a search that needs
    // more (a long question over many files) finds them by binary search.
    std::size_t chunk_start_budget = 4u << 20;
  };

  // One file a search found: its best chunk (number and 1-based lines,
  // inclusive) and its score; or one session message (session set, chunk =
  // the message's number in its session, lines 0).
  struct FileHit {
    std::string key;
    std::string path;
    std::string language;
    std::string session;
    std::uint32_t chunk = 0;
    std::uint32_t first_line = 0;
    std::uint32_t last_line = 0;
    float score = 0;
  };

  LexicalIndex() : LexicalIndex(Options{}) {}
  explicit LexicalIndex(Options options);

  // Indexes the code file stored under `key`, replacing what the key held.
  void PutCode(std::string_view key, std::string_view path, std::string_view language, std::string_view content);
  // Forgets the key (absent is fine).
  void Remove(std::string_view key);

  // Session messages: message `number` of `session` as a unit of its own
  // (unchanged text: nothing to do); every message numbered from `first` on.
  void PutMessage(std::string_view session, std::uint64_t number, std::string_view text);
  void RemoveMessagesFrom(std::string_view session, std::uint64_t first);
  // A write of the history kind (records/stored_values.h: a session's head,
  // or one of its sealed segments; no value: erased), applied to the
  // session's messages. Segments must come in order (as writes and the
  // store's key order have them): a segment's first message number is where
  // the previous one ended. kCorruption if the value does not decode (the
  // record's messages are then left out).
  Status ApplyHistory(std::string_view key, std::optional<std::string_view> value);
  // A write of `kind` (code: an encoded code file; history: as ApplyHistory;
  // other kinds: nothing), no value for an erase: what the owning
  // partition calls for every write it applies and for every stored record
  // when it rebuilds the index. A code value that does not decode removes
  // the key's old text and is kCorruption.
  Status Apply(DataKind kind, std::string_view key, std::optional<std::string_view> value);

  // The files that best match `text`, best first, at most k, among those the
  // request's filters (path_prefix, language) admit. Empty when the text
  // has no index terms (only stop words or symbols): not an error.
  std::vector<FileHit> Search(std::string_view text, std::size_t k, const records::search_request& filters) const;

  // 1-based first and last line of chunk `chunk` of the file at `path`.
  std::optional<std::pair<std::uint32_t, std::uint32_t>> ChunkLines(std::string_view path, std::uint32_t chunk) const;

  std::size_t files() const { return live_files_; }
  std::size_t chunks() const { return live_chunks_; }
  std::size_t terms() const { return term_ids_.size(); }
  // Bytes of RAM the index holds (postings, terms, files), approximately.
  std::uint64_t RamBytes() const;

 private:
  struct Chunk {
    std::uint32_t file = 0;
    std::uint32_t first_line = 0, last_line = 0;
    std::uint32_t length = 0;  // terms
  };
  struct File {
    std::string key, path, language;
    std::string session;       // a session message (else a code file)
    std::uint64_t number = 0;  // the message's number in its session
    std::uint64_t hash = 0;    // of the message's text
    std::uint32_t first_chunk = 0, chunks = 0;  // chunk numbers first_chunk .. +chunks
    float length = 0;                           // content terms + path_weight * path terms
    std::vector<std::uint32_t> terms;           // distinct, for df and removal
  };
  // A term in a chunk: how often in its text and, on a file's first chunk
  // only, how often in the file's path (both saturate at 65535).
  struct Posting {
    std::uint32_t chunk;
    std::uint16_t tf;
    std::uint16_t path_tf;
  };
  // A term in a file: its count over the file's chunks plus path_weight
  // times its count in the path (the file-level BM25's tf), and where the
  // file's chunk postings of the term start in Term::postings (a search
  // scores a candidate's chunks from there, with no search for them).
  struct FilePosting {
    std::uint32_t file;
    float tf;
    std::uint32_t first_posting;
  };
  struct Term {
    std::vector<Posting> postings;           // by chunk number: a file's postings are consecutive
    std::vector<FilePosting> file_postings;  // by file slot
    std::uint32_t files = 0;                 // live files holding the term (df)
  };

  bool Admits(const File& f, const records::search_request& filters) const;
  // Adds a unit under a key it does not hold: its chunks, and the text whose
  // terms count path_weight times.
  void AddUnit(File file, const std::vector<std::string_view>& chunks, std::string_view path_text);
  void CompactIfMostlyDead();

  Options options_;
  std::unordered_map<std::string, std::uint32_t> term_ids_;
  std::vector<Term> terms_;
  std::vector<Chunk> chunks_;
  std::vector<File> files_;
  std::vector<float> file_length_;  // by file slot: its length, or -1 once removed (not live)
  std::unordered_map<std::string, std::uint32_t> file_of_key_;
  std::unordered_map<std::string, std::uint32_t> file_of_path_;  // live files
  // Sessions: the message numbers indexed (a set, not a range: a head may
  // claim any number); where each sealed segment's messages end (segment j
  // starts where j-1 ended).
  std::unordered_map<std::string, std::set<std::uint64_t>> session_numbers_;
  std::unordered_map<std::string, std::vector<std::uint64_t>> segment_ends_;
  std::size_t live_files_ = 0, live_chunks_ = 0;
  double live_length_ = 0;        // sum of live files' lengths
  double live_chunk_length_ = 0;  // sum of live chunks' lengths
  // Search scratch (sized to the chunks and files; reset through the touched lists).
  mutable std::vector<float> file_score_, file_bound_;
  mutable std::vector<std::uint32_t> touched_files_;
  mutable std::vector<std::uint32_t> touched_slot_;  // by file: its place in touched_files_
  // By touched slot and query term: the first_posting of the file's chunk
  // postings of the term, or kNoPosting.
  mutable std::vector<std::uint32_t> chunk_starts_;
};

// Hybrid search: reciprocal rank fusion (score = sum over the two rankings of
// weight / (kRrfRank + rank), ranks from 1; the vector ranking's weight is 1)
// of the vector index's hits,
// aggregated per file (a file ranks where its best chunk does; a session
// message stands alone), and the lexical index's file hits. Each result names
// one file (or message) with its best chunk: the lexical one where the text
// matched, else the vector one, with its lines (from `index`); the parts' own
// scores in vector_score and lexical_score. At most k, best first.
inline constexpr float kRrfRank = 60.0f;
// `lexical_hits` are LexicalResults (one per file, best first); `index` may
// be null (no lines for the vector side's files then).
std::vector<records::search_hit> FuseHybrid(const std::vector<records::search_hit>& vector_hits,
                                            const std::vector<records::search_hit>& lexical_hits,
                                            const LexicalIndex* index, std::size_t k, float lexical_weight = 1.0f);

// The weight of the lexical ranking in FuseHybrid for vectors of `model`.
// The built-in embedder (lexical-v1) hashes the same words BM25 counts, only
// less precisely: on the five query sets of bench/search_quality its vector
// ranking finds a right file in the first 5 for 0.54-0.65 of the questions
// where BM25 finds 0.85-1.0. Weighted equally it pulls hybrid below BM25
// alone (hit@5 0.86 vs 0.96 on Python's stdlib); at 10 it still reorders
// BM25's top files (a rank-1 vector hit outweighs the gap between adjacent
// BM25 ranks) and stayed below BM25 on the CMake and CAF sets (0.875 and
// 0.917 vs 0.958); at 100 BM25 orders its own files and the vectors add the
// files it missed (equal to 10 on the other three sets). A caller's own
// (semantic) embeddings rank by meaning, what BM25 cannot: equal weights,
// the usual reciprocal rank fusion.
float HybridLexicalWeight(std::string_view model);

// The lexical hits as search results (lexical mode): score = BM25.
std::vector<records::search_hit> LexicalResults(const std::vector<LexicalIndex::FileHit>& lexical_hits);

}  // namespace postdevai
