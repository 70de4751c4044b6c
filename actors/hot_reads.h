// Hot reads: RAM-resident entries read by the calling thread itself, through
// each partition's read view (storage/ramlake/read_view.h), with no message
// to the engine's actors. The engine makes one HotReads and gives it to the
// threads of this process that serve reads — the facade's callers, the gRPC
// server's, actor-native hosts' (EmbeddedEngine::ReadHot) — through the
// in-process port (actors/actor_port.h). A miss, an entry whose write is
// still on its way to its partition, and everything else still go through
// the actors, as before.
//
// The reads served here are noted for the prefetcher, which learns from
// every read of a reader in order: it drains the notes before each message it
// handles (so a read served here is learnt before any later read of the same
// reader that went through the actors) and on a timer. The notes are bounded
// (kMaxPendingAccesses between drains, the rest dropped): a flood of hot reads
// costs the prefetcher a bounded share of a core, and what it loses is
// knowledge about data that is in RAM already.
//
// Thread-safety: every method may be called from any thread concurrently.
// No CAF here: this header is included by the port and the engine.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "postdevai/records.h"
#include "storage/ramlake/read_view.h"

namespace postdevai::actors {

class HotReads {
 public:
  // learn_accesses: note reads for the prefetcher ([tiering] prefetch).
  explicit HotReads(bool learn_accesses);

  storage::ramlake::PartitionReadView& view(DataKind kind) { return views_[DataKindIndex(kind)]; }

  // The value of (kind, key) when it is resident and current in RAM: true and
  // *out filled (served_from ram). false: ask the engine (read_atom), which
  // also validates the arguments and names what is wrong with them.
  bool Read(DataKind kind, std::string_view key, std::string_view reader, records::read_result* out);

  // Reads served here so far, all kinds.
  std::uint64_t hits() const;
  // How long the reads served here took (steady clock), for `memory stats`
  // and the metrics beside the reads the actors answered.
  records::latency_histogram ReadLatency() const;

  struct Access {
    DataKind kind = DataKind::kMetadata;
    std::string key;
    std::string reader;
  };
  // The reads served here since the last call, each reading thread's in
  // its order (at most kMaxPendingAccesses; later ones were not noted).
  std::vector<Access> TakeAccesses();
  // Whether (kind, key) is resident, without counting a read: what the
  // prefetcher asks before it warms an item.
  bool Resident(DataKind kind, std::string_view key);

  static constexpr std::size_t kMaxPendingAccesses = 4096;

 private:
  const bool learn_accesses_;
  std::array<storage::ramlake::PartitionReadView, 4> views_;
  // Notes per reading thread (by stripe), so that readers on several
  // threads do not queue on one lock.
  static constexpr std::size_t kNoteStripes = 16;
  struct alignas(64) Notes {
    std::mutex mutex;
    std::vector<Access> accesses;  // guarded by mutex
  };
  std::array<Notes, kNoteStripes> notes_;
  // Latency per reading thread, like the notes.
  struct alignas(64) Latency {
    std::array<std::atomic<std::uint64_t>, records::kLatencyBoundsMicros.size() + 1> buckets{};
    std::atomic<std::uint64_t> sum_nanos{0};
  };
  std::array<Latency, kNoteStripes> latency_;
};

}  // namespace postdevai::actors
