// `replication status` and `replication promote`: a node's replication, over
// the gRPC API (rpc/replication.h).
#include <cstdio>

#include "programs/cli/commands.h"

namespace postdevai::cli {

Json ReplicationJson(const rpc::ReplicationInfo& r) {
  Json j = Json::MakeObject();
  j.Set("role", r.role)
      .Set("state", r.state.empty() ? Json() : Json(r.state))
      .Set("store", r.store)
      .Set("durable_lsn", r.durable_lsn);
  if (r.role == "replica") {
    j.Set("primary", r.primary)
        .Set("primary_durable_lsn", r.primary_durable_lsn)
        .Set("lag_lsns", r.lag_lsns)
        .Set("lag_bytes", r.lag_bytes)
        .Set("lag_seconds", r.lag_seconds)
        .Set("last_heard_seconds", r.last_heard_seconds < 0 ? Json() : Json(r.last_heard_seconds))
        .Set("records_received", r.records_received)
        .Set("bytes_received", r.bytes_received)
        .Set("reconnects", r.reconnects);
  }
  if (r.role == "primary") j.Set("replicas", r.replicas).Set("buffer_bytes", r.buffer_bytes);
  j.Set("error", r.error.empty() ? Json() : Json(r.error)).Set("fenced", r.fenced.empty() ? Json() : Json(r.fenced));
  return j;
}

void PrintReplication(const rpc::ReplicationInfo& r) {
  if (r.role == "replica") {
    std::printf("replication     replica of %s, %s: LSN %llu of the primary's %llu (behind by %llu LSNs, %s, %s)\n",
                r.primary.c_str(), r.state.c_str(), static_cast<unsigned long long>(r.durable_lsn),
                static_cast<unsigned long long>(r.primary_durable_lsn), static_cast<unsigned long long>(r.lag_lsns),
                FormatBytes(r.lag_bytes).c_str(), FormatSeconds(r.lag_seconds).c_str());
  } else if (r.role == "primary") {
    std::printf("replication     primary, %s: %llu replica(s) following; %s of WAL in RAM for them\n", r.state.c_str(),
                static_cast<unsigned long long>(r.replicas), FormatBytes(r.buffer_bytes).c_str());
  } else {
    std::printf("replication     none ([replication] role = \"none\")\n");
  }
  if (!r.error.empty()) std::printf("replication problem  %s\n", r.error.c_str());
  if (!r.fenced.empty()) std::printf("fenced          %s\n", r.fenced.c_str());
}

Status ReplicationStatus(CommandContext& ctx, const ParsedArgs&) {
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto status = (*node)->memory().ReplicationStatus();
  if (!status.ok()) return status.status();
  ctx.result().Set("node", (*node)->endpoint()).Set("replication", ReplicationJson(*status));
  if (!ctx.json()) {
    std::printf("store           %s, WAL durable to LSN %llu\n", status->store.c_str(),
                static_cast<unsigned long long>(status->durable_lsn));
    PrintReplication(*status);
  }
  return Status::Ok();
}

Status ReplicationPromote(CommandContext& ctx, const ParsedArgs&) {
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto promoted = (*node)->memory().Promote();
  if (!promoted.ok()) return promoted.status();
  ctx.result().Set("node", (*node)->endpoint()).Set("store", promoted->store).Set("first_lsn", promoted->first_lsn);
  if (!ctx.json()) {
    std::printf("promoted %s: it is a primary of %s from LSN %llu on and takes writes; its former primary is told "
                "to refuse them\n",
                (*node)->endpoint().c_str(), promoted->store.c_str(),
                static_cast<unsigned long long>(promoted->first_lsn));
  }
  return Status::Ok();
}

}  // namespace postdevai::cli
