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
//
// Relaxed writes (every kind they touch has durability "relaxed") are
// acknowledged once their record is in the WAL's buffer (WalWait::kBuffered).
// The first one arms a timer of relaxed_sync_window; when it fires the WAL is
// synced, so no relaxed write stays unsynced longer than the window plus one
// sync. A durable write syncs every record before it as well, relaxed ones
// included. The journal keeps, per kind, the bytes and the age of what is
// not durable yet: the RPO view of `memory stats`, `top` and the metrics.
// The store applies a relaxed write only once the WAL is durable past it
// (the journal tells it after each sync), so LevelDB never holds a write a
// crash could take from the WAL.
#include "actors/errors.h"
#include "actors/spawn.h"
#include "postdevai/log.h"
#include "storage/cold_tier.h"
#include "storage/wal.h"

namespace postdevai::actors {
namespace {

struct journal_state {
  std::shared_ptr<storage::Wal> wal;
  JournalOptions options;
  store_actor store;  // told how far the WAL is durable
  std::vector<std::string> payloads;
  std::vector<caf::typed_response_promise<std::uint64_t>> promises;
  bool batch_durable = false;  // a queued write needs its record durable
  bool flush_pending = false;
  bool sync_armed = false;     // the relaxed window's timer is running
  std::uint64_t last_clock_micros = 0;  // of the last time stamp
  // Relaxed writes not durable yet, per kind: bytes logged and when the
  // oldest was acknowledged (actor clock, microseconds; 0: none).
  std::array<std::uint64_t, kKinds> unsynced_bytes{};
  std::array<std::uint64_t, kKinds> unsynced_since{};
  static inline const char* name = "postdevai.journal";
};

using journal_pointer = journal_actor::stateful_pointer<journal_state>;

// Everything logged so far is durable: nothing is at risk any more.
void NoteAllDurable(journal_pointer self) {
  auto& st = self->state;
  const bool had_relaxed = std::any_of(st.unsynced_bytes.begin(), st.unsynced_bytes.end(), [](auto b) { return b; });
  st.unsynced_bytes.fill(0);
  st.unsynced_since.fill(0);
  if (had_relaxed && st.store) self->send(st.store, persisted_atom_v, st.wal->durable_lsn());
}

void Flush(journal_pointer self) {
  auto& st = self->state;
  st.flush_pending = false;
  if (st.payloads.empty()) return;
  // The batch's time, for a restore to a point in time (cold_tier.h): wall
  // clock, never going back within a run, since a restore stops at the
  // first stamp past its target.
  st.last_clock_micros = std::max(st.last_clock_micros, st.options.clock->WallClockMicros());
  storage::StampLoggedTime(&st.payloads.front(), st.last_clock_micros);
  std::vector<storage::WalEntry> entries;
  entries.reserve(st.payloads.size());
  for (const auto& p : st.payloads) entries.push_back(storage::WalEntry{storage::kWalRecordMutations, p});
  const auto wait = st.batch_durable ? storage::WalWait::kDurable : storage::WalWait::kBuffered;
  auto first = st.wal->AppendBatch(entries, wait);
  if (first.ok() && wait == storage::WalWait::kDurable) NoteAllDurable(self);
  for (std::size_t i = 0; i < st.promises.size(); ++i) {
    if (first.ok()) {
      st.promises[i].deliver(*first + i);
    } else {
      st.promises[i].deliver(ToError(first.status()));
    }
  }
  st.payloads.clear();
  st.promises.clear();
  st.batch_durable = false;
}

// Syncs what relaxed writes left in the WAL's buffer.
void SyncRelaxed(journal_pointer self) {
  auto& st = self->state;
  st.sync_armed = false;
  Status s = st.wal->Sync();
  if (s.ok()) {
    NoteAllDurable(self);
  } else {
    LogError("journal", "syncing relaxed writes failed; those not yet durable are lost: " + s.ToString());
  }
}

journal_actor::behavior_type JournalBehavior(journal_pointer self, std::shared_ptr<storage::Wal> wal,
                                             JournalOptions options, store_actor store) {
  self->state.wal = std::move(wal);
  self->state.store = std::move(store);
  options.max_batch = std::max<std::size_t>(1, options.max_batch);
  if (options.clock == nullptr) options.clock = storage::FileSystem::Default();
  self->state.options = options;
  return {
      [=](write_atom, std::string& payload, std::uint8_t relaxed_kinds) -> caf::result<std::uint64_t> {
        // The payload was encoded (its values compressed) by an encoder: this
        // thread only appends and syncs.
        auto& st = self->state;
        if (payload.size() + storage::kTimeStampBytes > st.wal->max_payload()) {
          return ToError(Status::TooLarge("write of " + std::to_string(payload.size()) +
                                          " bytes (as logged) exceeds the largest record the write-ahead log holds, " +
                                          std::to_string(st.wal->max_payload()) + " bytes ([wal] segment_size_mb)"));
        }
        if (relaxed_kinds == 0) {
          st.batch_durable = true;
        } else {
          const std::uint64_t now = ClockMicros(self);
          for (std::size_t k = 0; k < kKinds; ++k) {
            if ((relaxed_kinds >> k & 1) == 0) continue;
            st.unsynced_bytes[k] += payload.size();
            if (st.unsynced_since[k] == 0) st.unsynced_since[k] = now;
          }
          if (!st.sync_armed) {
            st.sync_armed = true;
            self->delayed_send(self, st.options.relaxed_sync_window, tick_atom_v);
          }
        }
        st.payloads.push_back(std::move(payload));
        auto rp = self->make_response_promise<std::uint64_t>();
        st.promises.push_back(rp);
        if (self->mailbox().empty() || st.payloads.size() >= st.options.max_batch) {
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
      [=](tick_atom) {
        Flush(self);
        SyncRelaxed(self);
      },
      [=](sync_atom) -> caf::result<std::uint64_t> {
        Flush(self);
        Status s = self->state.wal->Sync();
        if (!s.ok()) return ToError(s);
        NoteAllDurable(self);
        return self->state.wal->durable_lsn();
      },
      [=](replicate_atom, std::vector<logged_payload>& records) -> caf::result<std::uint64_t> {
        auto& st = self->state;
        Flush(self);  // a replica takes no writes of its own; nothing should be queued
        if (records.empty()) return ToError(Status::InvalidArgument("replicate: no records"));
        const std::uint64_t next = st.wal->stats().next_lsn;
        if (records.front().lsn != next) {
          return ToError(Status::Corruption("replicated records start at LSN " + std::to_string(records.front().lsn) +
                                            ", but this log continues with LSN " + std::to_string(next)));
        }
        std::vector<storage::WalEntry> entries;
        entries.reserve(records.size());
        for (std::size_t i = 0; i < records.size(); ++i) {
          if (records[i].lsn != next + i) {
            return ToError(Status::Corruption("replicated records skip from LSN " + std::to_string(next + i - 1) +
                                              " to " + std::to_string(records[i].lsn)));
          }
          entries.push_back(storage::WalEntry{records[i].type, records[i].payload});
        }
        auto first = st.wal->AppendBatch(entries, storage::WalWait::kDurable);
        if (!first.ok()) return ToError(first.status());
        NoteAllDurable(self);
        return *first + entries.size() - 1;
      },
      [=](stats_atom) -> sync_report {
        auto& st = self->state;
        auto stats = st.wal->stats();
        sync_report r;
        r.durable_lsn = stats.durable_lsn;
        r.wal_segments = stats.segments;
        r.wal_bytes = stats.bytes;
        r.wal_syncs = stats.syncs;
        r.wal_records = stats.records;
        r.wal_live_bytes = stats.live_bytes;
        r.relaxed_kinds = st.options.relaxed_kinds;
        r.relaxed_sync_ms = static_cast<std::uint64_t>(st.options.relaxed_sync_window.count());
        r.lost_relaxed_writes = stats.lost_buffered_records;
        const std::uint64_t now = ClockMicros(self);
        r.unsynced_bytes.assign(kKinds, 0);
        r.unsynced_micros.assign(kKinds, 0);
        for (std::size_t k = 0; k < kKinds; ++k) {
          r.unsynced_bytes[k] = st.unsynced_bytes[k];
          if (st.unsynced_since[k] != 0) r.unsynced_micros[k] = now - std::min(now, st.unsynced_since[k]);
        }
        return r;
      },
  };
}

}  // namespace

journal_actor SpawnJournal(caf::actor_system& sys, std::shared_ptr<storage::Wal> wal, JournalOptions options,
                           store_actor store) {
  return SpawnBlocking(sys, JournalBehavior, std::move(wal), options, std::move(store));
}

}  // namespace postdevai::actors
