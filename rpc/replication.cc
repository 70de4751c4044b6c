#include "rpc/replication.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <optional>
#include <fstream>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "postdevai/log.h"
#include "postdevai/replication/v1/replication.grpc.pb.h"
#include "rpc/channel.h"
#include "rpc/token_file.h"
#include "storage/backup.h"
#include "storage/cold_tier.h"
#include "storage/file_system.h"

namespace postdevai::rpc {

namespace v1 = postdevai::replication::v1;
using Clock = std::chrono::steady_clock;

namespace {

// Payload bytes one batch carries at most (a larger record goes alone).
constexpr std::uint64_t kBatchBytes = 1u << 20;
// A batch, empty if need be, at least this often: the replica's proof that
// its primary is there.
constexpr std::chrono::milliseconds kHeartbeat{1000};
// A replica that heard nothing for this long reconnects.
constexpr auto kSilenceLimit = std::chrono::seconds(10);
// How often a promoted node retries telling its former primary.
constexpr auto kFenceRetry = std::chrono::seconds(2);
// How long a primary that had replicas holds writes back after it starts: a
// replica promoted while it was away fences it within one retry.
constexpr auto kFenceGrace = kFenceRetry + std::chrono::seconds(1);
// The trailer of a refusal that a fresh copy of the primary would cure.
constexpr char kResyncTrailer[] = "postdevai-resync";

void ToProto(const storage::StoreIdentity& in, v1::StoreIdentity* out) {
  out->set_id(in.id);
  out->set_epoch(in.epoch);
  out->set_epoch_start_lsn(in.epoch_start_lsn);
}

storage::StoreIdentity FromProto(const v1::StoreIdentity& in) {
  return storage::StoreIdentity{in.id(), in.epoch(), in.epoch_start_lsn()};
}

// "host:port" into a ConnectionOptions' host and port (validated by the config).
void SplitHostPort(const std::string& address, ConnectionOptions* o) {
  const std::size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  o->host = host;
  o->port = static_cast<std::uint16_t>(std::stoul(address.substr(colon + 1)));
}

}  // namespace

struct ReplicationNode::Impl : public v1::Replication::Service {
  ReplicationHost* host = nullptr;
  HybridMemoryConfig config;
  std::string self;
  std::string authorization;      // "Bearer TOKEN", or empty: none asked
  ConnectionOptions to_primary;   // a replica's (and a promoted node's fence)
  std::string endpoint;           // config.replication.primary

  mutable std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  ReplicationRole role = ReplicationRole::kNone;
  // Replica: the call in flight (to cancel it), and what it heard.
  grpc::ClientContext* call = nullptr;
  std::string state = "connecting";
  std::string error;
  std::uint64_t primary_durable_lsn = 0, primary_durable_micros = 0, primary_pending_bytes = 0;
  std::uint64_t applied_micros = 0;
  Clock::time_point last_heard{};
  bool heard = false;
  std::uint64_t records_received = 0, bytes_received = 0, reconnects = 0;
  bool fence_pending = false;
  std::optional<Clock::time_point> hold_until;  // writes held back until then (kFenceGrace)
  std::atomic<std::uint64_t> streams{0};
  std::atomic<bool> followed{false};  // recorded in the store (ReplicationHost::NoteFollowed)

  std::thread follower, housekeeper;
  ResyncedFunction resynced;

  // ---- the primary's side ---------------------------------------------------

  bool Authorized(grpc::ServerContext* ctx) const {
    if (authorization.empty()) return true;
    auto it = ctx->client_metadata().find("authorization");
    return it != ctx->client_metadata().end() &&
           ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()), authorization);
  }

  static grpc::Status NeedsCopy(grpc::ServerContext* ctx, const std::string& why) {
    ctx->AddTrailingMetadata(kResyncTrailer, "1");
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        why + "; the replica needs a fresh copy (it fetches one, or restore a backup of the primary "
                              "with `dragon_node --restore BACKUP_DIR --as-replica`)");
  }

  grpc::Status Follow(grpc::ServerContext* ctx, const v1::FollowRequest* req,
                      grpc::ServerWriter<v1::WalBatch>* writer) override {
    if (!Authorized(ctx)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "this node asks for an access token: the replica sends its node.token_file's");
    }
    {
      std::lock_guard lock(mu);
      if (role != ReplicationRole::kPrimary) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "this node is not a primary (replication.role = \"" +
                                std::string(ReplicationRoleName(role)) + "\")");
      }
    }
    const std::string fenced = host->fenced();
    if (!fenced.empty()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, fenced);
    const storage::StoreIdentity mine = host->identity();
    const storage::StoreIdentity theirs = FromProto(req->store());
    const std::string who = req->replica().empty() ? ctx->peer() : req->replica();
    const std::uint64_t from = std::max<std::uint64_t>(1, req->from_lsn());
    // A new replica (it holds nothing) takes this store's id from the first
    // batch, when the records from LSN 1 on are still here.
    if (theirs.id != mine.id && from != 1) {
      return NeedsCopy(ctx, "the replica's store " + theirs.ToString() + " is not this primary's " + mine.ToString());
    }
    if (theirs.epoch > mine.epoch) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "the replica is of epoch " + std::to_string(theirs.epoch) + ", this node of epoch " +
                              std::to_string(mine.epoch) + ": this node was replaced by a promoted replica");
    }
    if (theirs.epoch + 1 < mine.epoch) {
      // Only the latest epoch's start is known here: where the replica's
      // history left this one's cannot be told.
      return NeedsCopy(ctx, "the replica is of epoch " + std::to_string(theirs.epoch) + ", more than one behind this "
                            "primary's " + std::to_string(mine.epoch));
    }
    if (theirs.epoch < mine.epoch && from > mine.epoch_start_lsn && mine.epoch_start_lsn != 0) {
      return NeedsCopy(ctx, "the replica holds LSNs up to " + std::to_string(from - 1) + " of epoch " +
                                std::to_string(theirs.epoch) + ", but epoch " + std::to_string(mine.epoch) +
                                " began at LSN " + std::to_string(mine.epoch_start_lsn) + ": it diverged");
    }
    if (from > host->durable_lsn() + 1) {
      return NeedsCopy(ctx, "the replica holds LSNs up to " + std::to_string(from - 1) + ", this primary only up to " +
                                std::to_string(host->durable_lsn()) + ": it diverged");
    }
    LogInfo("replication", "replica " + who + " follows from LSN " + std::to_string(from));
    if (!followed.exchange(true)) {
      // From now on a restart holds writes back for a while (kFenceGrace).
      if (Status noted = host->NoteFollowed(); !noted.ok()) {
        followed = false;
        LogWarning("replication", "recording that this node has replicas: " + noted.ToString());
      }
    }
    streams.fetch_add(1);
    struct Count {
      std::atomic<std::uint64_t>& n;
      ~Count() { n.fetch_sub(1); }
    } count{streams};
    storage::WalFileReader files = host->WalFiles();
    storage::ReplicationLog& log = host->log();
    std::uint64_t next = from;
    std::vector<storage::ReplicatedRecord> records;
    while (!ctx->IsCancelled()) {
      {
        std::lock_guard lock(mu);
        if (stopping || role != ReplicationRole::kPrimary) break;
      }
      if (const std::string now_fenced = host->fenced(); !now_fenced.empty()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, now_fenced);  // its replicas must not follow it on
      }
      records.clear();
      auto outcome = log.Read(next, kBatchBytes, kHeartbeat, &records);
      if (outcome == storage::ReplicationLog::ReadOutcome::kClosed) break;
      if (outcome == storage::ReplicationLog::ReadOutcome::kNotInMemory) {
        auto read = files.Read(next, log.durable_lsn(), kBatchBytes, [&](const storage::WalRecord& r) {
          records.push_back(storage::ReplicatedRecord{r.lsn, r.type, std::string(r.payload)});
          return Status::Ok();
        });
        if (!read.ok()) {
          if (read.status().IsNotFound()) {
            LogWarning("replication", "replica " + who + " needs " + read.status().message());
            return NeedsCopy(ctx, "this primary no longer has the records the replica needs: " + read.status().message());
          }
          LogError("replication", "reading the WAL for replica " + who + ": " + read.status().ToString());
          return grpc::Status(grpc::StatusCode::INTERNAL, read.status().ToString());
        }
      }
      v1::WalBatch batch;
      for (auto& r : records) {
        auto* out = batch.add_records();
        out->set_lsn(r.lsn);
        out->set_type(r.type);
        out->set_payload(std::move(r.payload));
      }
      if (!records.empty()) next = records.back().lsn + 1;
      ToProto(host->identity(), batch.mutable_primary());
      batch.set_durable_lsn(log.durable_lsn());
      batch.set_durable_micros(log.durable_micros());
      batch.set_pending_bytes(log.BytesAfter(next - 1));
      // Blocks while the replica's flow-control window is full.
      if (!writer->Write(batch)) break;
    }
    LogInfo("replication", "replica " + who + " stopped following at LSN " + std::to_string(next - 1));
    return grpc::Status::OK;
  }

  grpc::Status Snapshot(grpc::ServerContext* ctx, const v1::SnapshotRequest* req,
                        grpc::ServerWriter<v1::SnapshotChunk>* writer) override {
    if (!Authorized(ctx)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "this node asks for an access token");
    }
    {
      std::lock_guard lock(mu);
      if (role != ReplicationRole::kPrimary) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this node is not a primary");
      }
    }
    const std::string who = req->replica().empty() ? ctx->peer() : req->replica();
    auto dir = host->Backup();
    if (!dir.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "making a backup for the replica: " + dir.status().ToString());
    LogInfo("replication", "sending replica " + who + " a copy: " + *dir);
    const std::string name = std::filesystem::path(*dir).filename().string();
    std::error_code ec;
    std::vector<char> buffer(kBatchBytes);
    for (std::filesystem::recursive_directory_iterator it(*dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      const std::string relative = std::filesystem::relative(it->path(), *dir).string();
      std::ifstream in(it->path(), std::ios::binary);
      std::uint64_t offset = 0;
      do {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        v1::SnapshotChunk chunk;
        chunk.set_backup(name);
        chunk.set_path(relative);
        chunk.set_offset(offset);
        chunk.set_data(buffer.data(), static_cast<std::size_t>(in.gcount()));
        offset += static_cast<std::uint64_t>(in.gcount());
        if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "the replica went away");
      } while (in && !ctx->IsCancelled());
      if (in.bad()) return grpc::Status(grpc::StatusCode::INTERNAL, "reading " + it->path().string());
    }
    if (ec) return grpc::Status(grpc::StatusCode::INTERNAL, "listing " + *dir + ": " + ec.message());
    return grpc::Status::OK;
  }

  grpc::Status Fence(grpc::ServerContext* ctx, const v1::FenceRequest* req, v1::FenceReply* reply) override {
    if (!Authorized(ctx)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "this node asks for an access token");
    }
    {
      std::lock_guard lock(mu);
      if (role != ReplicationRole::kPrimary) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "this node is not a primary: nothing to fence");
      }
    }
    Status s = host->Fence(FromProto(req->successor()), req->by());
    if (!s.ok()) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, s.message());
    LogWarning("replication", host->fenced());
    reply->set_durable_lsn(host->durable_lsn());
    return grpc::Status::OK;
  }

  // ---- the replica's side ---------------------------------------------------

  bool Stopping() {
    std::lock_guard lock(mu);
    return stopping || role != ReplicationRole::kReplica;
  }

  void Pause(std::chrono::milliseconds how_long) {
    std::unique_lock lock(mu);
    wake.wait_for(lock, how_long, [&] { return stopping || role != ReplicationRole::kReplica; });
  }

  void SetError(std::string state_now, std::string why) {
    std::lock_guard lock(mu);
    if (why != error) LogWarning("replication", "following " + endpoint + ": " + why);
    state = std::move(state_now);
    error = std::move(why);
  }

  void FollowLoop() {
    auto channel = OpenChannel(to_primary, endpoint);
    if (!channel.ok()) {
      SetError("refused", channel.status().ToString());
      return;
    }
    auto stub = v1::Replication::NewStub(*channel);
    std::chrono::milliseconds backoff{200};
    while (!Stopping()) {
      grpc::ClientContext ctx;
      if (!to_primary.token.empty()) ctx.AddMetadata("authorization", "Bearer " + to_primary.token);
      v1::FollowRequest req;
      ToProto(host->identity(), req.mutable_store());
      req.set_from_lsn(host->durable_lsn() + 1);
      req.set_replica(self);
      {
        std::lock_guard lock(mu);
        call = &ctx;
        last_heard = Clock::now();
      }
      auto reader = stub->Follow(&ctx, req);
      v1::WalBatch batch;
      std::string failure;
      while (failure.empty() && reader->Read(&batch)) {
        const storage::StoreIdentity primary = FromProto(batch.primary());
        if (primary.epoch > host->identity().epoch || primary.id != host->identity().id) {
          Status adopted = host->AdoptEpoch(primary);
          if (!adopted.ok()) failure = adopted.ToString();
        }
        std::vector<storage::ReplicatedRecord> records;
        std::uint64_t bytes = 0, newest_micros = 0;
        std::uint64_t expected = host->durable_lsn() + 1;
        for (auto& r : *batch.mutable_records()) {
          if (r.lsn() != expected++) {
            failure = "the primary sent LSN " + std::to_string(r.lsn()) + " where LSN " + std::to_string(expected - 1) +
                      " was due";
            break;
          }
          if (r.type() == storage::kWalRecordMutations) {
            if (auto micros = storage::LoggedTime(r.payload())) newest_micros = std::max(newest_micros, *micros);
          }
          bytes += r.payload().size();
          records.push_back(storage::ReplicatedRecord{r.lsn(), static_cast<std::uint8_t>(r.type()),
                                                      std::move(*r.mutable_payload())});
        }
        if (failure.empty() && !records.empty()) {
          const std::size_t n = records.size();
          auto applied = host->ApplyReplicated(std::move(records));
          if (!applied.ok()) {
            failure = "applying LSNs " + std::to_string(expected - n) + " to " + std::to_string(expected - 1) + ": " +
                      applied.status().ToString();
          } else {
            std::lock_guard lock(mu);
            records_received += n;
            bytes_received += bytes;
            applied_micros = std::max(applied_micros, newest_micros);
          }
        }
        if (!failure.empty()) {
          ctx.TryCancel();
          break;
        }
        std::lock_guard lock(mu);
        primary_durable_lsn = batch.durable_lsn();
        primary_durable_micros = batch.durable_micros();
        primary_pending_bytes = batch.pending_bytes();
        last_heard = Clock::now();
        heard = true;
        state = host->durable_lsn() >= primary_durable_lsn ? "caught up" : "streaming";
        if (!error.empty()) LogInfo("replication", "following " + endpoint + " again");
        error.clear();
        backoff = std::chrono::milliseconds(200);
      }
      grpc::Status finished = reader->Finish();
      {
        std::lock_guard lock(mu);
        call = nullptr;
      }
      if (Stopping()) break;
      const bool needs_copy = ctx.GetServerTrailingMetadata().count(kResyncTrailer) > 0;
      if (needs_copy && resynced) {
        LogWarning("replication", "the primary refuses: " + finished.error_message() + "; fetching a copy of it");
        {
          std::lock_guard lock(mu);
          state = "resyncing";
          error = finished.error_message();
        }
        auto copy = FetchCopy(*stub);
        if (copy.ok()) {
          LogWarning("replication", "a verified copy of the primary is in " + *copy + ": restarting onto it");
          resynced(*copy);
          return;  // the node restarts
        }
        // Each attempt costs the primary a backup: not more than once a minute.
        SetError("refused", "fetching a copy of the primary failed (again in a minute): " + copy.status().ToString());
        Pause(std::chrono::seconds(60));
        continue;
      }
      auto wait = backoff;
      if (!failure.empty()) {
        SetError("connecting", failure);
      } else if (finished.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
                 finished.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        // Will not cure itself soon: asked again now and then.
        SetError("refused", "the primary refuses: " + finished.error_message());
        wait = std::chrono::seconds(5);
      } else {
        SetError("connecting", finished.ok() ? std::string("the primary ended the stream")
                                             : "following the primary failed: " + finished.error_message());
      }
      {
        std::lock_guard lock(mu);
        ++reconnects;
      }
      Pause(wait);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
    }
  }

  // Snapshot into <persistent_path>/resync.partial, verified, then renamed
  // to <persistent_path>/resync; returns the backup's directory there.
  Result<std::string> FetchCopy(v1::Replication::Stub& stub) {
    storage::FileSystem* fs = storage::FileSystem::Default();
    const std::string root = config.persistent_path + "/resync";
    const std::string partial = root + ".partial";
    if (fs->FileExists(partial)) PDAI_RETURN_IF_ERROR(storage::RemoveTree(fs, partial));
    PDAI_RETURN_IF_ERROR(fs->CreateDirs(partial));
    grpc::ClientContext ctx;
    if (!to_primary.token.empty()) ctx.AddMetadata("authorization", "Bearer " + to_primary.token);
    {
      std::lock_guard lock(mu);
      call = &ctx;
      last_heard = Clock::now();
    }
    v1::SnapshotRequest req;
    req.set_replica(self);
    auto reader = stub.Snapshot(&ctx, req);
    v1::SnapshotChunk chunk;
    std::string backup, open_path;
    std::unique_ptr<storage::WritableFile> file;
    Status failed;
    // A path the primary names must stay inside the copy.
    auto safe = [](const std::string& p) {
      if (p.empty() || p.front() == '/') return false;
      for (const auto& part : std::filesystem::path(p)) {
        if (part == ".." || part == ".") return false;
      }
      return true;
    };
    while (failed.ok() && reader->Read(&chunk)) {
      {
        std::lock_guard lock(mu);
        last_heard = Clock::now();
      }
      if (backup.empty()) backup = chunk.backup();
      if (chunk.backup() != backup || !safe(backup) || backup.find('/') != std::string::npos || !safe(chunk.path())) {
        failed = Status::Corruption("the primary sent a file outside its backup: " + chunk.backup() + "/" + chunk.path());
        break;
      }
      const std::string path = partial + "/" + backup + "/" + chunk.path();
      if (path != open_path) {
        if (file) failed = file->Close();
        if (failed.ok()) failed = fs->CreateDirs(storage::DirName(path));
        if (failed.ok()) {
          auto opened = fs->NewWritableFile(path);
          failed = opened.status();
          if (opened.ok()) file = std::move(*opened);
        }
        open_path = path;
      }
      if (failed.ok()) failed = file->WriteAt(chunk.offset(), chunk.data());
    }
    if (file && failed.ok()) failed = file->Sync();
    if (file) (void)file->Close();
    grpc::Status finished = reader->Finish();
    {
      std::lock_guard lock(mu);
      call = nullptr;
    }
    if (!failed.ok()) {
      ctx.TryCancel();
      return failed;
    }
    if (!finished.ok()) return Status::Unavailable("the primary's copy: " + finished.error_message());
    if (backup.empty()) return Status::Unavailable("the primary sent no copy");
    auto verified = storage::VerifyBackup(fs, partial + "/" + backup);
    if (!verified.ok()) return verified.status();
    if (!verified->problems.empty()) {
      return Status::Corruption("the copy fails verification: " + verified->problems.front());
    }
    if (fs->FileExists(root)) PDAI_RETURN_IF_ERROR(storage::RemoveTree(fs, root));
    PDAI_RETURN_IF_ERROR(fs->RenameFile(partial, root));
    return root + "/" + backup;
  }

  // A replica's silent stream is cancelled (it reconnects); a promoted
  // node's former primary is told until it has heard.
  void Housekeeping() {
    std::unique_lock lock(mu);
    auto next_fence = Clock::now();
    while (!stopping) {
      wake.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; });
      if (stopping) break;
      if (call != nullptr && Clock::now() - last_heard > kSilenceLimit) {
        LogWarning("replication", "nothing from " + endpoint + " for " +
                                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kSilenceLimit).count()) +
                                      " s: reconnecting");
        call->TryCancel();
        last_heard = Clock::now();
      }
      if (hold_until && Clock::now() >= *hold_until) {
        hold_until.reset();
        host->ReleaseWrites();
        LogInfo("replication", "no promoted replica fenced this node while it started: it takes writes");
      }
      if (fence_pending && Clock::now() >= next_fence) {
        lock.unlock();
        const bool done = TellFormerPrimary();
        lock.lock();
        if (done) fence_pending = false;
        next_fence = Clock::now() + kFenceRetry;
      }
    }
  }

  // True once the former primary answered (fenced, or refused for good).
  bool TellFormerPrimary() {
    const std::string former = host->promoted_from();
    if (former.empty()) return true;
    ConnectionOptions options = to_primary;
    SplitHostPort(former, &options);
    auto channel = OpenChannel(options, former);
    if (!channel.ok()) return true;
    auto stub = v1::Replication::NewStub(*channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    if (!options.token.empty()) ctx.AddMetadata("authorization", "Bearer " + options.token);
    v1::FenceRequest req;
    ToProto(host->identity(), req.mutable_successor());
    req.set_by(self);
    v1::FenceReply reply;
    grpc::Status s = stub->Fence(&ctx, req, &reply);
    if (s.ok()) {
      LogInfo("replication", "the former primary " + former + " was told it was replaced (its WAL was durable to LSN " +
                                 std::to_string(reply.durable_lsn()) + ")");
      return true;
    }
    if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      LogInfo("replication", "the former primary " + former + " needs no fence: " + s.error_message());
      return true;
    }
    return false;  // not reachable yet: again later
  }
};

ReplicationNode::ReplicationNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ReplicationNode::~ReplicationNode() { Stop(); }

Result<std::unique_ptr<ReplicationNode>> ReplicationNode::Start(ReplicationHost* host,
                                                                const HybridMemoryConfig& config, std::string self,
                                                                ResyncedFunction resynced) {
  auto impl = std::make_unique<Impl>();
  impl->resynced = std::move(resynced);
  impl->host = host;
  impl->config = config;
  impl->self = std::move(self);
  impl->role = config.replication.role;
  impl->endpoint = config.replication.primary;
  const NodeConfig& node = config.node;
  if (!node.token_file.empty()) {
    auto token = ReadTokenFile(node.token_file);
    if (!token.ok()) return token.status();
    impl->authorization = "Bearer " + *token;
    impl->to_primary.token = *token;
  }
  // The node's own TLS files: its primary's certificate is checked against
  // node.ca_file, and its own certificate is what a primary asking for
  // mutual TLS checks.
  impl->to_primary.ca_file = node.ca_file;
  if (!node.ca_file.empty()) {
    impl->to_primary.certificate = node.certificate;
    impl->to_primary.key = node.key;
  }
  const std::string promoted_from = host->promoted_from();
  if (impl->role == ReplicationRole::kReplica && !promoted_from.empty() && promoted_from == impl->endpoint) {
    LogWarning("replication", "this node was promoted and no longer follows " + promoted_from +
                                  ": it runs as a primary (set replication.role = \"primary\" and remove "
                                  "replication.primary to say so)");
    impl->role = ReplicationRole::kPrimary;
  }
  if (!promoted_from.empty() && impl->role == ReplicationRole::kPrimary) impl->fence_pending = true;
  impl->followed = host->followed();
  if (impl->role == ReplicationRole::kPrimary && impl->followed && host->fenced().empty()) {
    // A replica may have been promoted while this node was away: it tells
    // this node within one retry, and a write taken before that would be
    // lost to the new primary's history.
    const auto grace = std::chrono::duration_cast<std::chrono::seconds>(kFenceGrace).count();
    host->HoldWrites("this primary is starting: it takes writes in " + std::to_string(grace) +
                     " s, unless a replica promoted meanwhile fences it first");
    impl->hold_until = Clock::now() + kFenceGrace;
    LogInfo("replication", "this primary had replicas: writes are held back for " + std::to_string(grace) +
                               " s, for a replica promoted meanwhile to fence it");
  }
  if (impl->role == ReplicationRole::kReplica) SplitHostPort(impl->endpoint, &impl->to_primary);
  Impl* p = impl.get();
  if (impl->role == ReplicationRole::kReplica) impl->follower = std::thread([p] { p->FollowLoop(); });
  impl->housekeeper = std::thread([p] { p->Housekeeping(); });
  return std::unique_ptr<ReplicationNode>(new ReplicationNode(std::move(impl)));
}

grpc::Service* ReplicationNode::service() { return impl_.get(); }

ReplicationStatus ReplicationNode::status() const {
  ReplicationStatus s;
  const Impl& i = *impl_;
  s.identity = i.host->identity();
  s.durable_lsn = i.host->durable_lsn();
  s.fenced = i.host->fenced();
  std::lock_guard lock(i.mu);
  s.role = std::string(ReplicationRoleName(i.role));
  if (i.role == ReplicationRole::kPrimary) {
    s.state = !s.fenced.empty() ? "fenced" : i.hold_until ? "starting" : "serving";
    s.replicas = i.streams.load();
    s.buffer_bytes = i.host->log().bytes();
    return s;
  }
  if (i.role != ReplicationRole::kReplica) return s;
  s.state = i.state;
  s.primary = i.endpoint;
  s.error = i.error;
  s.primary_durable_lsn = i.primary_durable_lsn;
  s.lag_lsns = i.primary_durable_lsn > s.durable_lsn ? i.primary_durable_lsn - s.durable_lsn : 0;
  s.lag_bytes = s.lag_lsns > 0 ? i.primary_pending_bytes : 0;
  if (s.lag_lsns > 0 && i.primary_durable_micros > i.applied_micros && i.applied_micros != 0) {
    s.lag_seconds = static_cast<double>(i.primary_durable_micros - i.applied_micros) / 1e6;
  }
  if (i.heard) s.last_heard_seconds = std::chrono::duration<double>(Clock::now() - i.last_heard).count();
  s.records_received = i.records_received;
  s.bytes_received = i.bytes_received;
  s.reconnects = i.reconnects;
  return s;
}

Result<storage::StoreIdentity> ReplicationNode::Promote() {
  Impl& i = *impl_;
  {
    std::lock_guard lock(i.mu);
    if (i.role != ReplicationRole::kReplica) {
      return Status::Closed("this node is not a replica (it runs as \"" + std::string(ReplicationRoleName(i.role)) +
                            "\"): nothing to promote");
    }
    i.role = ReplicationRole::kPrimary;  // the follower stops at its next step
    if (i.call != nullptr) i.call->TryCancel();
  }
  i.wake.notify_all();
  if (i.follower.joinable()) i.follower.join();
  auto identity = i.host->Promote(i.endpoint);
  if (!identity.ok()) {
    std::lock_guard lock(i.mu);
    i.role = ReplicationRole::kReplica;  // still a replica; it follows again after a restart
    return identity.status();
  }
  LogWarning("replication", "promoted: this node is a primary of " + identity->ToString() + " (it followed " +
                                i.endpoint + ")");
  std::lock_guard lock(i.mu);
  i.fence_pending = true;
  return identity;
}

void ReplicationNode::Stop() {
  Impl& i = *impl_;
  {
    std::lock_guard lock(i.mu);
    if (i.stopping) return;
    i.stopping = true;
    if (i.call != nullptr) i.call->TryCancel();
  }
  i.wake.notify_all();
  i.host->log().Close();
  if (i.follower.joinable()) i.follower.join();
  if (i.housekeeper.joinable()) i.housekeeper.join();
}

}  // namespace postdevai::rpc
