// Turns a validated HybridMemoryConfig into the options of the storage layer.
#pragma once

#include "postdevai/config.h"
#include "storage/durable_store.h"

namespace postdevai {

storage::DurableStoreOptions DurableStoreOptionsFromConfig(const HybridMemoryConfig& config);

}  // namespace postdevai
