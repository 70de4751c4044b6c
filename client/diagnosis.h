// `diagnose memory`: the node's reports and its own files (RAM disk, WAL
// storage, free space) turned into findings, each with what to do about it.
// Runs in the node (the Diagnose call of the gRPC API), which knows its
// config and sees its files; a check that cannot be made says so
// ("unknown") and why, rather than guessing.
#pragma once

#include <vector>

#include "client/memory_client.h"
#include "postdevai/config.h"
#include "postdevai/records.h"

namespace postdevai::client {

// The findings for these reports of the node configured by `config`, in a
// stable order of checks: ram_disk, wal_storage, budget, hit_rate, sync_lag,
// store_apply, wal_backlog, compression, partition_health, disk_space.
std::vector<records::finding> DiagnoseNode(const records::memory_report& stats,
                                           const std::vector<records::store_kind_report>& kinds,
                                           const HybridMemoryConfig& config);

// Asks `memory` for its reports, then answers `done` with the findings.
// `memory` must live until `done` has run.
void DiagnoseNode(MemoryClient& memory, HybridMemoryConfig config, Reply<std::vector<records::finding>> done);

}  // namespace postdevai::client
