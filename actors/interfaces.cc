#include "actors/interfaces.h"

namespace postdevai::actors {

// Only the types of the public protocol are serializable: an internal
// message (a logged write, a partition handle) cannot even be decoded when a
// peer sends one, and the peer's connection is dropped.
void AddMessageTypes(caf::actor_system_config& cfg) { AddPublicMessageTypes(cfg); }

void AddPublicMessageTypes(caf::actor_system_config& cfg) {
  cfg.add_message_type<DataKind>("postdevai.data_kind");
  cfg.add_message_type<mutation>("postdevai.mutation");
  cfg.add_message_type<std::vector<mutation>>("postdevai.mutations");
  cfg.add_message_type<write_batch>("postdevai.write_batch");
  cfg.add_message_type<read_result>("postdevai.read_result");
  cfg.add_message_type<append_result>("postdevai.append_result");
  cfg.add_message_type<partition_report>("postdevai.partition_report");
  cfg.add_message_type<std::vector<partition_report>>("postdevai.partition_reports");
  cfg.add_message_type<eviction_result>("postdevai.eviction_result");
  cfg.add_message_type<std::vector<eviction_result>>("postdevai.eviction_results");
  cfg.add_message_type<store_kind_report>("postdevai.store_kind_report");
  cfg.add_message_type<std::vector<store_kind_report>>("postdevai.store_kind_reports");
  cfg.add_message_type<sync_report>("postdevai.sync_report");
  cfg.add_message_type<memory_report>("postdevai.memory_report");
  cfg.add_message_type<latency_histogram>("postdevai.latency_histogram");
  cfg.add_message_type<search_request>("postdevai.search_request");
  cfg.add_message_type<search_hit>("postdevai.search_hit");
  cfg.add_message_type<std::vector<search_hit>>("postdevai.search_hits");
  cfg.add_message_type<engine_info>("postdevai.engine_info");
  cfg.add_message_type<backup_report>("postdevai.backup_report");
  cfg.add_message_type<std::vector<float>>("postdevai.floats");
}

}  // namespace postdevai::actors
