// The encoders: each write's values are compressed once, here, before the
// journal logs them; the WAL then carries the compressed bytes and the store
// (live, and on replay) applies them as they are. Stateless and scheduled, so
// several compress side by side on the scheduler's threads while the journal
// only appends and syncs.
#include "actors/errors.h"
#include "actors/spawn.h"
#include "storage/cold_tier.h"

namespace postdevai::actors {

Result<std::string> EncodeWrite(const storage::PersistentStore& store, const write_batch& batch) {
  std::vector<storage::Mutation> mutations;
  mutations.reserve(batch.mutations.size());
  for (const auto& m : batch.mutations) {
    mutations.push_back(storage::Mutation{static_cast<storage::Kind>(m.kind), m.key, m.value, m.erase});
  }
  return storage::EncodeLoggedWrite(store, mutations);
}

encoder_actor SpawnEncoder(caf::actor_system& sys, std::shared_ptr<const storage::PersistentStore> store) {
  return sys.spawn([store = std::move(store)]() -> encoder_actor::behavior_type {
    return {
        [store](encode_atom, const write_batch& batch) -> caf::result<std::string> {
          auto payload = EncodeWrite(*store, batch);
          if (!payload.ok()) return ToError(payload.status());
          return std::move(*payload);
        },
    };
  });
}

}  // namespace postdevai::actors
