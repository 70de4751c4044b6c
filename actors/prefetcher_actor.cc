// The prefetcher: learns, per reader, which item tends to be read after which
// (files of one session, a file and its neighbours) and, when an item is read,
// asks for its most likely successor to be warmed before it is asked for. Its
// hit rate (prefetched items that were then read) is its own statistic.
#include <unordered_map>
#include <unordered_set>

#include "actors/hot_reads.h"
#include "actors/spawn.h"

namespace postdevai::actors {
namespace {

struct Successors {
  // A few candidates with counts; small and good enough for bursts of reads.
  std::array<std::pair<std::string, std::uint32_t>, 4> next{};
  void Bump(const std::string& key) {
    std::size_t weakest = 0;
    for (std::size_t i = 0; i < next.size(); ++i) {
      if (next[i].second > 0 && next[i].first == key) {
        ++next[i].second;
        return;
      }
      if (next[i].second < next[weakest].second) weakest = i;
    }
    next[weakest] = {key, 1};  // replaces the least seen
  }
  const std::pair<std::string, std::uint32_t>* Best() const {
    const std::pair<std::string, std::uint32_t>* best = nullptr;
    for (const auto& n : next) {
      if (n.second > 0 && (!best || n.second > best->second)) best = &n;
    }
    return best;
  }
};

struct prefetcher_state {
  bool enabled = true;
  std::shared_ptr<HotReads> hot_reads;  // reads served without a message
  caf::actor controller;  // where prefetches go (set once at start)
  std::unordered_map<std::string, std::string> last_by_reader;   // reader -> kind byte + key
  std::unordered_map<std::string, Successors> successors;        // kind byte + key -> successors
  std::unordered_set<std::string> prefetched;                    // warmed, not yet read
  std::uint64_t prefetches = 0, hits = 0;
  static inline const char* name = "postdevai.prefetcher";
};

// Successors seen at least this often are worth a prefetch.
constexpr std::uint32_t kMinEvidence = 2;
constexpr std::size_t kMaxTracked = 1'000'000;
// How often the reads served by the read views are learnt (besides before
// every message): with HotReads::kMaxPendingAccesses per drain, at most ~80K
// hot reads a second are learnt, a bounded share of a core.
constexpr auto kDrainInterval = std::chrono::milliseconds(50);

using prefetcher_pointer = prefetcher_actor::stateful_pointer<prefetcher_state>;

// One read of (kind, key) by reader: learn the reader's order and warm the
// likely next item.
void Learn(prefetcher_pointer self, DataKind kind, const std::string& key, const std::string& reader) {
  auto& st = self->state;
  if (!st.enabled || !st.controller) return;
  std::string item(1, static_cast<char>(kind));
  item += key;
  if (st.prefetched.erase(item) > 0) ++st.hits;
  if (st.successors.size() > kMaxTracked) st.successors.clear();  // bounded memory
  if (st.last_by_reader.size() > kMaxTracked) st.last_by_reader.clear();
  auto& last = st.last_by_reader[reader];
  if (!last.empty() && last != item) st.successors[last].Bump(item);
  last = item;
  auto it = st.successors.find(item);
  if (it == st.successors.end()) return;
  const auto* best = it->second.Best();
  if (!best || best->second < kMinEvidence || st.prefetched.count(best->first)) return;
  // Resident already: nothing to warm, and no message to the controller (hot
  // reads learnt at memory speed would otherwise flood it).
  const auto next_kind = static_cast<DataKind>(best->first[0]);
  const std::string_view next_key = std::string_view(best->first).substr(1);
  if (st.hot_reads && st.hot_reads->Resident(next_kind, next_key)) return;
  if (st.prefetched.size() > kMaxTracked) st.prefetched.clear();
  st.prefetched.insert(best->first);
  ++st.prefetches;
  self->send(caf::actor_cast<controller_actor>(st.controller), prefetch_atom_v,
             static_cast<DataKind>(best->first[0]), best->first.substr(1));
}

// Learns the reads the read views served. Called first in every handler:
// they happened before whatever the message reports.
void DrainHotReads(prefetcher_pointer self) {
  if (!self->state.hot_reads) return;
  for (const auto& access : self->state.hot_reads->TakeAccesses()) Learn(self, access.kind, access.key, access.reader);
}

prefetcher_actor::behavior_type PrefetcherBehavior(prefetcher_pointer self, bool enabled,
                                                   std::shared_ptr<HotReads> hot_reads) {
  self->state.enabled = enabled;
  self->state.hot_reads = std::move(hot_reads);
  if (enabled) self->delayed_send(self, kDrainInterval, tick_atom_v);
  return {
      [=](access_atom, DataKind kind, std::string& key, std::string& reader) {
        DrainHotReads(self);
        Learn(self, kind, key, reader);
      },
      [=](tick_atom) {
        DrainHotReads(self);
        self->delayed_send(self, kDrainInterval, tick_atom_v);
      },
      [=](route_atom, const caf::actor& controller) { self->state.controller = controller; },
      [=](stats_atom) -> caf::result<std::uint64_t, std::uint64_t> {
        DrainHotReads(self);
        return {self->state.prefetches, self->state.hits};
      },
  };
}

}  // namespace

prefetcher_actor SpawnPrefetcher(caf::actor_system& sys, bool enabled, std::shared_ptr<HotReads> hot_reads) {
  return sys.spawn(PrefetcherBehavior, enabled, std::move(hot_reads));
}

}  // namespace postdevai::actors
