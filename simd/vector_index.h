// VectorIndex: similarity search over the embeddings of one model, searching
// both tiers of the engine at once.
//
// What it keeps, per vector, in RAM: an 8-bit copy (simd::QuantizeInt8: one
// code per component plus scale, offset and the exact squared norm), the caller's
// 64-bit id and the vector's attributes (owner kind, path, language, session).
// The full-precision vectors live elsewhere — hot in the RAM-Lake partition or
// cold in LevelDB — and the caller supplies them at search time; alternatively
// the index keeps its own full-precision copy when asked (keep_full_precision).
//
// A search (kQuantizedRerank, the default) runs in two phases. FindCandidates
// finds the best `rerank_candidates` by their quantized copies — through the
// approximate nearest-neighbour graph (simd::AnnGraph, HNSW) once the index
// holds graph_min_vectors, otherwise (and whenever the graph cannot serve the
// query, see below) by scanning every quantized copy with the SIMD kernels;
// the caller fetches those at full precision from whichever tier holds them;
// Rerank returns the best k by their exact scores.
// The engine runs the phases itself, because its fetches are asynchronous
// messages to the store. Search does the same in one call, fetching through a
// FullPrecisionSource passed to that call (or from the kept copy). Every vector
// has a quantized copy whatever its tier, so both tiers are always searched.
// kExact scores every vector at full precision (from the index's own copy, or
// fetched in blocks through the call's source).
//
// The graph serves a query when: the index is quantized and has a graph
// (graph_degree > 0), the query's metric is graph_metric, the index holds at
// least graph_min_vectors, the candidates wanted are few next to the index
// size (an "exact" request that asks for every vector scans), and the filter,
// if any, may admit at least graph_filter_matches_per_candidate times the
// candidates wanted (estimated from attribute counts). Why a count and not a
// fraction: a filtered walk visits about candidates / selectivity nodes, a
// scan visits all n, so the walk wins while selectivity x n (the matches)
// exceeds candidates x (cost of a scattered visit / cost of a scanned row) — a
// constant, measured by postdevai-bench vector ("filtered"). A graph answer
// with fewer than k candidates (a filter that admits fewer than estimated, an
// unreachable region) is replaced by the scan's, so a search returns exactly
// min(k, vectors that pass the filter) results either way.
//
// Real time: Add returns after the vector is in the scanned arrays and linked
// into the graph; the next Search finds it. Remove/ReplaceFile take effect the
// same way: a removed or replaced vector is never a candidate again. A write
// costs a graph insert or repair (about 0.2-0.6 ms at 768 dimensions and
// 50K-200K vectors); when the arrays outgrow their capacity, the Add that
// grows them also copies them (Reserve ahead of bulk loads).
//
// Deferred linking (restarts): while DeferLinking(true) holds, Add and
// ReplaceFile put vectors into the scanned arrays only, "unlinked" from the
// graph, and return at the cost of a quantization instead of a graph insert.
// A graph search also scores every unlinked vector (a gathered scan of their
// quantized copies) and merges them with the walk's, so an unlinked vector is
// found as surely as by a scan; with more unlinked vectors than linked ones
// the search scans everything instead. LinkUnlinked links them a few at a time
// (the engine does it between messages), so a restart that re-applies
// thousands of vectors, or rebuilds the index, searches at once and reaches
// graph speed as the links are made.
//
// Model and dimension: an index holds vectors of exactly one embedding model
// and dimension (VectorIndexOptions). Every write and every query names its
// model; a write or query with another model or dimension is refused with
// kInvalidArgument naming both, so vectors of different models are never mixed.
// NaN and infinite components are refused at write time (and in queries).
//
// Ownership: the index owns its quantized copies and attribute tables. It holds
// no FullPrecisionSource: a search borrows the one it is given for the length
// of the call (the source must outlive the call) and keeps no pointer to it.
//
// Thread-safety: none, const methods included (a graph search writes the
// graph's scratch: visit marks, heaps). One index is owned by one thread at a
// time — in the engine, the vectors partition actor, which serializes every
// call. Search and SearchBatch call their source on the calling thread, before
// they return.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "postdevai/config.h"
#include "postdevai/status.h"
#include "simd/ann_graph.h"
#include "simd/vector_kernels.h"

namespace postdevai {

using simd::VectorMetric;

// What a vector was computed from.
enum class VectorOwnerKind : std::uint8_t {
  kCodeChunk,       // a chunk of a source file; `path` names the file
  kHistoryMessage,  // a message of a session's history; `session` names it
};
std::string_view VectorOwnerKindName(VectorOwnerKind kind);

struct VectorAttributes {
  VectorOwnerKind kind = VectorOwnerKind::kCodeChunk;
  std::string path;      // code chunks: the file (the unit ReplaceFile/RemoveFile act on)
  std::string language;  // e.g. "cpp", "python"; may be empty
  std::string session;   // history messages: the session id; may be empty for code

  bool operator==(const VectorAttributes&) const = default;
};

// Restricts a search; every set criterion must hold.
struct VectorFilter {
  std::optional<VectorOwnerKind> kind;
  std::string path_prefix;  // empty: any path; otherwise a byte-wise prefix of the path
  std::string language;     // empty: any language
  std::string session;      // empty: any session

  bool empty() const { return !kind && path_prefix.empty() && language.empty() && session.empty(); }
};

enum class VectorSearchMode : std::uint8_t {
  kQuantizedRerank,  // scan int8 copies, re-rank the best candidates at full precision
  kExact,            // score every vector at full precision
};

struct VectorSearchOptions {
  std::size_t k = 10;
  VectorMetric metric = VectorMetric::kCosine;
  VectorSearchMode mode = VectorSearchMode::kQuantizedRerank;
  // Candidates re-ranked at full precision; 0 means the index's default. Values
  // below k are raised to k.
  std::size_t rerank_candidates = 0;
  VectorFilter filter;
};

// A result: the caller's id and its exact score under the search's metric
// (inner product or cosine similarity: higher is better; squared L2 distance:
// lower is better). Results come best first. Among exactly equal scores the
// order (and which of them make the cut at k) is deterministic but unspecified.
struct VectorHit {
  std::uint64_t id = 0;
  float score = 0;
};

// Serves full-precision vectors the index does not keep itself, to one Search
// or SearchBatch call (the engine instead fetches between FindCandidates and
// Rerank: hot records from the RAM-Lake partition, cold ones from the store).
class FullPrecisionSource {
 public:
  virtual ~FullPrecisionSource() = default;
  // Writes the full-precision vector of ids[i] (dimension() floats) to
  // out + i * dimension for every i. Returns kNotFound naming an id it cannot
  // find, or the error of the tier that failed; the search then fails with it.
  virtual Status Fetch(std::span<const std::uint64_t> ids, float* out) = 0;
};

struct VectorIndexOptions {
  std::string model = "lexical-v1";
  std::uint32_t dimension = 384;
  // kInt8: quantized copies + re-rank (the default search). kNone: no compact
  // copy; every search scans full precision (kExact).
  VectorQuantization quantization = VectorQuantization::kInt8;
  std::uint32_t rerank_candidates = 100;
  // The approximate nearest-neighbour graph over the quantized copies (int8
  // only): links per node (0: no graph, every search scans), candidates
  // examined per insert, the metric it is built for, and the index size from
  // which searches use it (below, a scan is as fast and exact).
  std::uint32_t graph_degree = 16;
  std::uint32_t graph_build_breadth = 128;
  VectorMetric graph_metric = VectorMetric::kCosine;
  std::size_t graph_min_vectors = 10000;
  // Filtered searches walk the graph only when the filter may admit at least
  // this many vectors per candidate wanted (see above; measured with
  // postdevai-bench vector, "filtered").
  double graph_filter_matches_per_candidate = 16;
  // Keep a full-precision copy of every vector in the index (RAM cost
  // 4 x dimension bytes per vector): Search and SearchBatch need no source.
  bool keep_full_precision = false;

  // The [vectors] section of the node's config.
  static VectorIndexOptions FromConfig(const VectorsConfig& config);
};

// A vector to add: its id, components and attributes.
struct VectorEntry {
  std::uint64_t id = 0;
  std::span<const float> values;
  VectorAttributes attributes;
};

// The first phase of a search: ids to fetch at full precision, and the
// approximate scores that selected them (best first).
struct VectorCandidates {
  std::vector<std::uint64_t> ids;
  std::vector<float> approximate_scores;
};

// The values any stored or query vector may hold: finite, with a squared
// norm (summed in double) of at most kMaxVectorSquaredNorm, so that every dot
// product, distance and quantization range the index computes in float stays
// finite (an infinite score cannot even be sent to a remote peer).
// kInvalidArgument naming `what` and the component or the norm otherwise.
inline constexpr double kMaxVectorSquaredNorm = 3.4028234663852886e38 / 16.0;  // FLT_MAX / 16
Status CheckVectorValues(std::span<const float> values, std::string_view what);

class VectorIndex {
 public:
  // Fails with kInvalidArgument when the options are unusable: dimension 0 or
  // above simd::kMaxInt8Dimension, or an empty model.
  static Result<std::unique_ptr<VectorIndex>> Create(VectorIndexOptions options);

  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;
  ~VectorIndex();

  const std::string& model() const { return options_.model; }
  std::size_t dimension() const { return options_.dimension; }
  const VectorIndexOptions& options() const { return options_; }
  std::size_t size() const { return slot_of_id_.size(); }
  bool Contains(std::uint64_t id) const { return slot_of_id_.count(id) != 0; }
  // kNotFound for an unknown id.
  Result<VectorAttributes> Attributes(std::uint64_t id) const;

  // Adds a vector of `model`, or replaces the one with the same id. Refused
  // (kInvalidArgument, index unchanged) for another model or dimension, a NaN
  // or infinite component, or a code chunk without a path. Without
  // keep_full_precision the caller must be able to supply the vector at full
  // precision from the next search on (through that search's source, or to
  // Rerank).
  Status Add(std::string_view model, const VectorEntry& entry);

  // Re-storing a file: removes every code-chunk vector of `path` and adds
  // `entries` (code chunks of that path), all or nothing — if any entry is
  // refused nothing changes. An empty `entries` removes the file's vectors.
  Status ReplaceFile(std::string_view model, std::string_view path, std::span<const VectorEntry> entries);

  // Removals; each returns how many vectors it removed.
  bool Remove(std::uint64_t id);
  std::size_t RemoveFile(std::string_view path);
  std::size_t RemoveSession(std::string_view session);

  // The k nearest vectors to `query` (a vector of `model`) that pass the filter,
  // in one call. kQuantizedRerank is FindCandidates, then a fetch of the
  // candidates through `source` (or from the kept copy), then Rerank — the
  // phases the engine runs separately. kExact, or an index without quantized
  // copies, scans full precision instead.
  // `source` serves the full-precision vectors; it is used only during the call
  // and must outlive it. It is ignored with keep_full_precision, and may be
  // null only then: a null source without keep_full_precision is refused with
  // kInvalidArgument. Also kInvalidArgument for another model or dimension, a
  // non-finite query, k == 0 or a zero query under the cosine metric; a source
  // error is returned as is.
  Result<std::vector<VectorHit>> Search(std::string_view model, std::span<const float> query,
                                        const VectorSearchOptions& options, FullPrecisionSource* source) const;

  // Searches `num_queries` queries stored back to back in `queries`
  // (num_queries x dimension floats) with the same options and source:
  // where the graph serves, each query walks it in turn; otherwise one scan of
  // memory serves the whole batch (the multi-query kernels). Then each query's
  // candidates are re-ranked with Rerank. Same results and the same contract
  // for `source` as num_queries calls of Search.
  Result<std::vector<std::vector<VectorHit>>> SearchBatch(std::string_view model, std::span<const float> queries,
                                                          std::size_t num_queries, const VectorSearchOptions& options,
                                                          FullPrecisionSource* source) const;

  // Search in two phases, for a caller that fetches full-precision vectors
  // asynchronously (the engine's vectors partition actor, asking the RAM-Lake
  // partition and the persistent store): FindCandidates searches the
  // quantized copies, through the graph or a scan (see the top; options.mode
  // is ignored; without quantized copies every vector the filter admits is a
  // candidate) and returns the ids to re-rank; Rerank scores them exactly, given their
  // full-precision vectors (candidates.ids.size() x dimension floats, in the
  // same order). Vectors removed in between are skipped, so a concurrent
  // removal never resurfaces. Neither phase uses a FullPrecisionSource.
  Result<VectorCandidates> FindCandidates(std::string_view model, std::span<const float> query,
                                          const VectorSearchOptions& options) const;
  Result<std::vector<VectorHit>> Rerank(std::span<const float> query, const VectorCandidates& candidates,
                                        std::span<const float> full_vectors, const VectorSearchOptions& options) const;

  // RAM the index uses (quantized copies, parameters, ids, attributes, id map,
  // string tables, the graph, the full-precision copy if kept; allocated
  // capacity, not just the bytes in use), in total and per stored vector (0
  // when empty); GraphRamBytes is the graph's part (0 without a graph).
  std::size_t RamBytes() const;
  double RamBytesPerVector() const;
  std::size_t GraphRamBytes() const;
  // Whether a search with these options would walk the graph (tests, benches).
  bool UsesGraph(const VectorSearchOptions& options) const;
  // Changes options().graph_filter_matches_per_candidate (benches measure the
  // crossover between a filtered walk and a filtered scan with it).
  void SetGraphFilterMatchesPerCandidate(double ratio) { options_.graph_filter_matches_per_candidate = ratio; }

  // Pre-allocates room for `count` vectors (avoids growth spikes on bulk load).
  void Reserve(std::size_t count);

  // Deferred linking (see the top). Turning it off links nothing by itself:
  // vectors already unlinked stay so until LinkUnlinked. An index without a
  // graph never has unlinked vectors.
  void DeferLinking(bool defer) { defer_linking_ = defer; }
  std::size_t unlinked() const { return unlinked_.size(); }
  // Links up to `max_vectors` unlinked vectors into the graph (each from its
  // quantized copy: the full-precision vector is not at hand); returns how
  // many remain unlinked.
  std::size_t LinkUnlinked(std::size_t max_vectors);

  // Snapshots, so that a restart loads the index instead of rebuilding it
  // (VectorCatalog frames them with a checksum and the store state they
  // reflect). Serialize appends the whole state — quantized copies, ids,
  // attributes, the graph, the unlinked vectors, the full-precision copy if
  // kept — to `out`.
  // Deserialize replaces this index's contents with a snapshot taken by an
  // index with the same options (model, dimension, quantization,
  // keep_full_precision, graph degree and metric); kInvalidArgument naming
  // the difference otherwise, kCorruption when the bytes do not parse or are
  // inconsistent. On any error the index is unchanged. Same-host format (raw
  // little-endian arrays), not an interchange format.
  void Serialize(std::string* out) const;
  Status Deserialize(std::string_view snapshot);

 private:
  struct AlignedFree {
    void operator()(void* p) const;
  };
  // A growable 64-byte-aligned byte array (rows on cache-line boundaries).
  class AlignedBytes {
   public:
    std::byte* data() const { return data_.get(); }
    std::size_t capacity() const { return capacity_; }
    void Reserve(std::size_t bytes, std::size_t used);
   private:
    std::unique_ptr<std::byte, AlignedFree> data_;
    std::size_t capacity_ = 0;
  };
  // Attributes as ids into the string table (0 = empty string).
  struct SlotAttributes {
    std::uint32_t path = 0;
    std::uint32_t language = 0;
    std::uint32_t session = 0;
    VectorOwnerKind kind = VectorOwnerKind::kCodeChunk;
    bool live = false;  // false: a free slot (removed vector), skipped by scans
  };
  // Reference-counted interned strings, so a path shared by a file's chunks is
  // stored once and forgotten when its last vector goes.
  class StringTable {
   public:
    StringTable();
    std::uint32_t Acquire(std::string_view s);
    void Release(std::uint32_t id);
    std::uint32_t References(std::uint32_t id) const { return refs_[id]; }
    void Serialize(std::string* out) const;
    bool Deserialize(std::string_view* in);
    std::optional<std::uint32_t> Find(std::string_view s) const;
    const std::string& Get(std::uint32_t id) const { return strings_[id]; }
    std::size_t size() const { return strings_.size(); }
    std::size_t RamBytes() const;
   private:
    std::vector<std::string> strings_;
    std::vector<std::uint32_t> refs_;
    std::vector<std::uint32_t> free_;
    std::unordered_map<std::string, std::uint32_t> ids_;
  };
  // Per-search view of a filter: which slots pass.
  struct CompiledFilter;

  explicit VectorIndex(VectorIndexOptions options);

  Status CheckModel(std::string_view model, std::size_t dimension, std::string_view what) const;
  Status CheckEntry(const VectorEntry& entry) const;
  Status CheckQuery(std::string_view model, std::span<const float> query, std::size_t num_queries,
                    const VectorSearchOptions& options) const;
  void AddChecked(const VectorEntry& entry);
  void RemoveSlot(std::size_t slot);
  std::size_t RemoveWhere(bool (*match)(const SlotAttributes&, std::uint32_t), std::uint32_t key);
  bool quantized() const { return options_.quantization == VectorQuantization::kInt8; }
  std::size_t Candidates(const VectorSearchOptions& options) const;
  CompiledFilter Compile(const VectorFilter& filter) const;

  const std::uint8_t* codes(std::size_t slot) const;
  const float* full(std::size_t slot) const;
  Status CheckSource(const FullPrecisionSource* source) const;
  // The full-precision vectors of `ids` (ids.size() x dimension floats), from
  // the kept copy or through `source`.
  Status FetchFull(FullPrecisionSource* source, std::span<const std::uint64_t> ids, float* out) const;

  // The first phase, for num_queries queries at once (FindCandidates,
  // SearchBatch): the graph where it serves, otherwise the scan.
  std::vector<VectorCandidates> ScanCandidates(const float* queries, std::size_t num_queries,
                                               const VectorSearchOptions& options) const;
  // The scan over every quantized copy, for queries already quantized.
  std::vector<VectorCandidates> ScanQuantized(const std::int8_t* query_codes, const simd::Int8QueryParams* params,
                                              std::size_t num_queries, const VectorSearchOptions& options,
                                              const CompiledFilter& filter) const;
  bool GraphServes(const VectorSearchOptions& options, const CompiledFilter& filter) const;
  simd::Int8Rows Rows() const;
  // Slots that may hold vectors: [0, slot_count()), some of them free.
  std::size_t slot_count() const { return ids_.size(); }
  bool Admits(const CompiledFilter& filter, std::size_t slot) const;
  // The second phase with the fetch in front of it (Search, SearchBatch).
  Result<std::vector<VectorHit>> FetchAndRerank(std::span<const float> query, const VectorCandidates& candidates,
                                                const VectorSearchOptions& options, FullPrecisionSource* source) const;
  Status ScanExact(const float* queries, std::size_t num_queries, const VectorSearchOptions& options,
                   FullPrecisionSource* source, std::vector<std::vector<VectorHit>>* hits) const;
  bool ScansExactly(const VectorSearchOptions& options) const {
    return options.mode == VectorSearchMode::kExact || !quantized();
  }

  VectorIndexOptions options_;
  std::size_t code_stride_;  // bytes per quantized row (dimension padded to 64)
  std::size_t full_stride_;  // floats per kept full-precision row (dimension padded to 16)

  // Slot-ordered arrays (structure of arrays). A vector keeps its slot for
  // life, because the slot is its node id in the graph; a removal leaves a
  // free slot (attributes live == false) that the next Add reuses, so holes
  // never outnumber the removals not yet followed by adds.
  std::vector<std::uint64_t> ids_;
  AlignedBytes codes_;
  std::vector<float> scales_, offsets_, squared_norms_;
  std::vector<SlotAttributes> attributes_;
  AlignedBytes full_;  // keep_full_precision only
  std::size_t slot_capacity_ = 0;
  std::vector<std::uint32_t> free_slots_;
  std::size_t kind_count_[2] = {0, 0};  // live vectors per owner kind (filter selectivity)
  std::unique_ptr<simd::AnnGraph> graph_;  // null: no graph (options, or kNone quantization)
  // Live slots not in the graph (deferred linking), each once, and where
  // each is in that list (removal in O(1)).
  std::vector<std::uint32_t> unlinked_;
  std::unordered_map<std::uint32_t, std::size_t> unlinked_position_;
  bool defer_linking_ = false;
  void Unlink(std::uint32_t slot);  // drops `slot` from unlinked_ if there
  // The unlinked vectors' scores for one quantized query into `top` (those
  // the filter admits).
  void ScoreUnlinked(const simd::AnnQuery& query, const VectorSearchOptions& options, const CompiledFilter& filter,
                     simd::TopK* top) const;

  std::unordered_map<std::uint64_t, std::uint32_t> slot_of_id_;
  StringTable strings_;
  // path string id -> ids of that file's code chunks (ReplaceFile/RemoveFile
  // without a scan).
  std::unordered_map<std::uint32_t, std::vector<std::uint64_t>> ids_of_path_;
};

}  // namespace postdevai
