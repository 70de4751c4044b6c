// Child process for tests/relaxed_durability_test.cc:
//
//   engine_relaxed_writer PERSISTENT_DIR RAMLAKE_DIR
//
// Opens the engine through the facade on RelaxedWriterConfig and performs the
// ops of tests/helpers/engine_relaxed_writer.h one after the other, reporting
// each acknowledged one, until it is killed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "postdevai/hybrid_memory.h"
#include "tests/helpers/engine_relaxed_writer.h"

int main(int argc, char** argv) {
  using namespace postdevai::testing;
  if (argc != 3) {
    std::fprintf(stderr, "usage: engine_relaxed_writer PERSISTENT_DIR RAMLAKE_DIR\n");
    return 2;
  }
  auto opened = postdevai::HybridMemory::Open(RelaxedWriterConfig(argv[1], argv[2]));
  if (!opened.ok()) {
    std::fprintf(stderr, "engine_relaxed_writer: open: %s\n", opened.status().ToString().c_str());
    return 3;
  }
  auto& memory = **opened;
  for (std::uint64_t i = 0;; ++i) {
    postdevai::Status s = RelaxedOpIsDurable(i) ? memory.StoreContext(RelaxedOpKey(i), {RelaxedOpValue(i)})
                                                : memory.PutMetadata(RelaxedOpKey(i), RelaxedOpValue(i));
    if (!s.ok()) {
      std::fprintf(stderr, "engine_relaxed_writer: op %llu: %s\n", static_cast<unsigned long long>(i),
                   s.ToString().c_str());
      return 4;
    }
    if (::write(1, &i, sizeof i) != static_cast<ssize_t>(sizeof i)) return 5;
  }
}
