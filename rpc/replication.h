// Async replication ([replication]): a replica follows its primary's
// write-ahead log over the primary's gRPC API
// (proto/postdevai/replication/v1/replication.proto).
//
// The primary. Its Wal hands every record it makes durable to the
// ReplicationLog (the newest [replication] buffer_mb in RAM); each replica's
// Follow stream sends from there, or from the WAL's files (live segments,
// then this epoch's archive) when the replica is further behind. Only
// durable records are sent, so a replica never holds a write its primary
// could lose in a crash. Memory per replica is one batch (at most 1 MiB of
// records): HTTP/2 flow control stops the sender of a replica that does not
// read. A replica whose next LSN the primary no longer has, or that holds
// writes the primary's history does not (it diverged at a promotion or a
// restore), is refused with FAILED_PRECONDITION: it needs a fresh copy. It
// fetches one itself (Snapshot: a backup the primary makes now, streamed,
// verified against its manifest) into <persistent_path>/resync, and the node
// restarts onto it: its old store and WAL are moved aside to
// <dir>.before-resync (a diverged former primary's extra writes stay there),
// the copy is restored keeping the primary's identity, and the replica
// follows from the copy's LSN. (By hand: `dragon_node --restore BACKUP_DIR
// --as-replica` from any backup of the primary.)
//
// The replica. One thread follows the primary: it asks for the LSN after
// its own durable one, logs each batch in its own WAL with the primary's
// LSNs (one sync per batch), and applies it as the primary did
// (ReplicationHost::ApplyReplicated), so it is always a prefix of the
// primary: consecutive LSNs, each record's CRC checked twice (by gRPC's
// transport and by its own WAL on every restart). It serves reads and
// refuses writes (kClosed, naming the primary). A dropped connection, a
// primary restarting or a batch that fails is retried with backoff (200 ms
// to 5 s), from what the replica holds. Lag: the primary's durable LSN
// minus the replica's (LSNs), the bytes the primary holds after the
// replica's last record (from its memory: a lower bound when the replica is
// further behind), and the age difference of the two newest writes
// (seconds, both stamped by the primary's clock).
//
// Promotion (`postdevai-cli replication promote`): the replica stops
// following, starts a new epoch from its next LSN, takes writes, and tells
// its former primary, now and at every start until it succeeds, that it was
// replaced (Fence): that node refuses writes from then on, across restarts,
// until it is made a replica of the new primary. The promotion is durable: a
// promoted node started with its old config (role "replica" of the same
// primary) runs as a primary. A primary that ever had a replica holds writes
// back (kClosed, "starting") for 3 s after it starts, one fence retry (2 s)
// and a margin: a former primary coming back is fenced before it takes a
// write of the old epoch, as long as its successor can reach it. (One that
// cannot, partitioned from it for longer, takes writes: without a quorum no
// node can tell a dead successor from an unreachable one. Such writes are
// not on the new primary, and the old node, made a replica, is refused as
// diverged.)
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "postdevai/config.h"
#include "postdevai/status.h"
#include "storage/persistent_store.h"
#include "storage/replication_log.h"

namespace grpc {
class Service;
}

namespace postdevai::rpc {

// What replication needs of the node's engine (actors::Engine, through a
// thin adapter in dragon_node): see the Engine methods of the same names.
class ReplicationHost {
 public:
  virtual ~ReplicationHost() = default;
  virtual storage::StoreIdentity identity() const = 0;
  virtual std::uint64_t durable_lsn() const = 0;
  virtual storage::ReplicationLog& log() = 0;
  virtual storage::WalFileReader WalFiles() const = 0;
  virtual Result<std::uint64_t> ApplyReplicated(std::vector<storage::ReplicatedRecord> records) = 0;
  virtual Status AdoptEpoch(const storage::StoreIdentity& primary) = 0;
  virtual Status Fence(const storage::StoreIdentity& successor, const std::string& by) = 0;
  virtual std::string fenced() const = 0;
  // Promotion, recorded durably with the primary it leaves ("" : none).
  virtual Result<storage::StoreIdentity> Promote(const std::string& former_primary) = 0;
  virtual std::string promoted_from() const = 0;
  // A backup now (the primary's side of a resync); returns its directory.
  virtual Result<std::string> Backup() = 0;
  // Whether a replica ever followed this node, as NoteFollowed recorded it
  // durably (the first Follow stream it accepts).
  virtual bool followed() const = 0;
  virtual Status NoteFollowed() = 0;
  // Writes refused (kClosed, `reason`) until ReleaseWrites; neither undoes
  // a fence.
  virtual void HoldWrites(std::string reason) = 0;
  virtual void ReleaseWrites() = 0;
};

// Called once a replica has a verified copy of its primary in `backup_dir`
// (its store must be replaced by it: dragon_node stops, restores it
// --as-replica and starts again).
using ResyncedFunction = std::function<void(const std::string& backup_dir)>;

// What `memory sync-status`, `replication status`, `top` and the metrics
// show.
struct ReplicationStatus {
  std::string role;     // "none", "primary" or "replica"
  std::string state;    // replica: "connecting", "streaming", "caught up", "refused"; primary: "serving"
  std::string primary;  // a replica's primary
  std::string error;    // the last failure, while it lasts
  std::string fenced;   // non-empty: this node was replaced, and why
  storage::StoreIdentity identity;
  std::uint64_t durable_lsn = 0;          // this node's WAL
  std::uint64_t primary_durable_lsn = 0;  // replica: as last heard from the primary
  std::uint64_t lag_lsns = 0;
  std::uint64_t lag_bytes = 0;
  double lag_seconds = 0;
  double last_heard_seconds = -1;  // replica: since the primary was last heard from (-1: never)
  std::uint64_t records_received = 0, bytes_received = 0, reconnects = 0;
  std::uint64_t replicas = 0;       // primary: Follow streams now
  std::uint64_t buffer_bytes = 0;   // primary: WAL records held in RAM for replicas
};

class ReplicationNode {
 public:
  // Serves Follow and Fence (register service() with the node's gRPC
  // server) and, for a replica, starts following config.replication.primary
  // with the node's own TLS files and access token. `self` is this node's
  // gRPC address, for its former primary's log when it is promoted.
  // `resynced` (may be null: the replica then only reports that it needs a
  // copy) takes over when a refused replica has fetched one (Snapshot) into
  // <persistent_path>/resync.
  static Result<std::unique_ptr<ReplicationNode>> Start(ReplicationHost* host, const HybridMemoryConfig& config,
                                                        std::string self, ResyncedFunction resynced = nullptr);
  ~ReplicationNode();

  grpc::Service* service();
  ReplicationStatus status() const;
  // A replica becomes a primary (see the header comment). kClosed when this
  // node is not a replica.
  Result<storage::StoreIdentity> Promote();
  // Ends the follower and every Follow stream; idempotent.
  void Stop();

  ReplicationNode(const ReplicationNode&) = delete;
  ReplicationNode& operator=(const ReplicationNode&) = delete;
  struct Impl;

 private:
  explicit ReplicationNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postdevai::rpc
