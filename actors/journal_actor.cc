// The journal: owns the WAL. Group commit through the mailbox: a write that
// finds more requests waiting is queued, and one flush message (sent to itself
// behind them) logs them all with one fdatasync; writes that arrive during
// that sync queue up for the next. A write that finds the mailbox empty is
// logged at once. A batch never holds more than group_commit_max_batch
// records: a full batch is logged at once, and the writes behind it start the
// next one. A write too large for one WAL record ([wal] segment_size_mb) is
// refused on arrival, before it joins a batch: the WAL refuses a batch holding
// one as a whole, and one caller's oversized write must not fail the writes it
// happens to share a sync with.
#include "actors/errors.h"
#include "actors/spawn.h"
#include "storage/cold_tier.h"
#include "storage/wal.h"

namespace postdevai::actors {
namespace {

struct journal_state {
  std::shared_ptr<storage::Wal> wal;
  std::vector<std::string> payloads;
  std::vector<caf::typed_response_promise<std::uint64_t>> promises;
  std::size_t max_batch = 256;  // [wal] group_commit_max_batch
  bool flush_pending = false;
  static inline const char* name = "postdevai.journal";
};

void Flush(journal_actor::stateful_pointer<journal_state> self) {
  auto& st = self->state;
  st.flush_pending = false;
  if (st.payloads.empty()) return;
  std::vector<storage::WalEntry> entries;
  entries.reserve(st.payloads.size());
  for (const auto& p : st.payloads) entries.push_back(storage::WalEntry{storage::kWalRecordMutations, p});
  auto first = st.wal->AppendBatch(entries);
  for (std::size_t i = 0; i < st.promises.size(); ++i) {
    if (first.ok()) {
      st.promises[i].deliver(*first + i);
    } else {
      st.promises[i].deliver(ToError(first.status()));
    }
  }
  st.payloads.clear();
  st.promises.clear();
}

journal_actor::behavior_type JournalBehavior(journal_actor::stateful_pointer<journal_state> self,
                                             std::shared_ptr<storage::Wal> wal, std::size_t max_batch) {
  self->state.wal = std::move(wal);
  self->state.max_batch = std::max<std::size_t>(1, max_batch);
  return {
      [=](write_atom, std::string& payload) -> caf::result<std::uint64_t> {
        // The payload was encoded (its values compressed) by an encoder: this
        // thread only appends and syncs.
        auto& st = self->state;
        if (payload.size() > st.wal->max_payload()) {
          return ToError(Status::TooLarge("write of " + std::to_string(payload.size()) +
                                          " bytes (as logged) exceeds the largest record the write-ahead log holds, " +
                                          std::to_string(st.wal->max_payload()) + " bytes ([wal] segment_size_mb)"));
        }
        st.payloads.push_back(std::move(payload));
        auto rp = self->make_response_promise<std::uint64_t>();
        st.promises.push_back(rp);
        if (self->mailbox().empty() || st.payloads.size() >= st.max_batch) {
          // Nobody else is waiting (log now rather than after one more trip
          // through the mailbox: a lone writer's latency), or the batch is full.
          Flush(self);
        } else if (!st.flush_pending) {
          // More requests are queued: they join this batch, and one flush
          // behind them logs all of it with one sync (group commit).
          st.flush_pending = true;
          self->send(self, flush_atom_v);
        }
        return rp;
      },
      [=](flush_atom) { Flush(self); },
      [=](release_atom, std::uint64_t lsn) -> caf::result<std::uint64_t> {
        Status s = self->state.wal->ReleaseThrough(lsn);
        if (!s.ok()) return ToError(s);
        return lsn;
      },
      [=](stats_atom) -> sync_report {
        auto stats = self->state.wal->stats();
        sync_report r;
        r.durable_lsn = stats.durable_lsn;
        r.wal_segments = stats.segments;
        r.wal_bytes = stats.bytes;
        r.wal_syncs = stats.syncs;
        r.wal_records = stats.records;
        r.wal_live_bytes = stats.live_bytes;
        return r;
      },
  };
}

}  // namespace

journal_actor SpawnJournal(caf::actor_system& sys, std::shared_ptr<storage::Wal> wal, std::size_t max_batch) {
  return sys.spawn<caf::detached>(JournalBehavior, std::move(wal), max_batch);
}

}  // namespace postdevai::actors
