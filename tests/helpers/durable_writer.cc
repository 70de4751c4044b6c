// Child process for kill -9 tests of the durable store:
//   durable_writer DIR FIRST_INDEX
// Opens the store under DIR (same options as tests/durable_store_test.cc),
// then writes k<i> = Value(i) for i = FIRST_INDEX, FIRST_INDEX+1, ... forever,
// checkpointing now and then, and after each acknowledged write prints i as 8
// raw bytes on stdout. Exits non-zero on any error; the test kills it.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "storage/durable_store.h"
#include "tests/helpers/durable_writer.h"

int main(int argc, char** argv) {
  using namespace postdevai::storage;
  if (argc != 3) {
    std::fprintf(stderr, "usage: durable_writer DIR FIRST_INDEX\n");
    return 2;
  }
  auto ds = DurableStore::Open(postdevai::testing::DurableWriterOptions(argv[1]));
  if (!ds.ok()) {
    std::fprintf(stderr, "durable_writer: %s\n", ds.status().ToString().c_str());
    return 3;
  }
  for (std::uint64_t i = std::strtoull(argv[2], nullptr, 10);; ++i) {
    auto put = (*ds)->Put(Kind::kCode, "k" + std::to_string(i), postdevai::testing::DurableWriterValue(i));
    if (!put.ok()) {
      std::fprintf(stderr, "durable_writer: %s\n", put.status().ToString().c_str());
      return 4;
    }
    if (i % 97 == 0) {
      auto c = (*ds)->Checkpoint();
      if (!c.ok()) {
        std::fprintf(stderr, "durable_writer: %s\n", c.status().ToString().c_str());
        return 5;
      }
    }
    if (::write(1, &i, sizeof i) != sizeof i) return 6;
  }
}
