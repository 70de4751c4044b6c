// Between the engine's records (include/postdevai/records.h, hybrid_memory.h)
// and the messages of postdevai.memory.v1: the one translation, used by the
// server (records -> messages) and by C++ clients (messages -> records).
#pragma once

#include <vector>

#include "postdevai/hybrid_memory.h"
#include "postdevai/records.h"
#include "postdevai/memory/v1/memory.pb.h"

namespace postdevai::rpc {

namespace v1 = ::postdevai::memory::v1;

void ToProto(const records::memory_report& in, v1::StatsReply* out);
records::memory_report FromProto(const v1::StatsReply& in);

void ToProto(const std::vector<records::store_kind_report>& in, v1::BreakdownReply* out);
std::vector<records::store_kind_report> FromProto(const v1::BreakdownReply& in);

void ToProto(const std::vector<records::eviction_result>& in, v1::EvictReply* out);
std::vector<records::eviction_result> FromProto(const v1::EvictReply& in);

void ToProto(const SearchHit& in, v1::SearchHit* out);
SearchHit FromProto(const v1::SearchHit& in);

void ToProto(const std::vector<records::finding>& in, v1::DiagnoseReply* out);
std::vector<records::finding> FromProto(const v1::DiagnoseReply& in);

// The search filter a request asks for.
SearchFilter FilterOf(const v1::SearchRequest& request);

}  // namespace postdevai::rpc
