// Child process for the engine's kill -9 test (tests/engine_kill_test.cc):
//
//   engine_writer PERSISTENT_DIR RAMLAKE_DIR SEED START_0 .. START_3
//
// Opens the engine through the blocking facade (its own CAF actor system,
// the full actor topology) on EngineWriterConfig, then runs, concurrently:
//   - kEngineWriters writer threads; writer w performs ops START_w,
//     START_w + 1, ... of its stream (tests/helpers/engine_writer.h): code
//     stored and deleted, session contexts, metadata put and deleted. After
//     each acknowledged op it writes EngineWriterAck(w, i) as 8 raw bytes to
//     stdout (one write(2) of 8 bytes: atomic on a pipe);
//   - a checkpoint thread that calls Sync() every 5-30 ms (seeded), so the
//     WAL is released behind checkpoints while the writes go on.
// It runs until killed. Any error is printed to stderr and exits non-zero, so
// the parent can tell a crash of ours from its SIGKILL.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "postdevai/hybrid_memory.h"
#include "tests/helpers/engine_writer.h"

namespace {

using postdevai::HybridMemory;
using postdevai::Status;
using postdevai::testing::EngineWriterOp;

Status Apply(HybridMemory& memory, const EngineWriterOp& op) {
  switch (op.type) {
    case EngineWriterOp::Type::kStoreCode: return memory.StoreCode(op.key, op.value, op.language).status();
    case EngineWriterOp::Type::kDeleteCode: return memory.DeleteCode(op.key);
    case EngineWriterOp::Type::kStoreContext: return memory.StoreContext(op.key, op.messages);
    case EngineWriterOp::Type::kPutMetadata: return memory.PutMetadata(op.key, op.value);
    case EngineWriterOp::Type::kDeleteMetadata: return memory.DeleteMetadata(op.key);
  }
  return Status::InvalidArgument("unknown op");
}

[[noreturn]] void Die(int code, const std::string& what) {
  std::fprintf(stderr, "engine_writer: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace postdevai::testing;
  if (argc != 4 + kEngineWriters) {
    std::fprintf(stderr, "usage: engine_writer PERSISTENT_DIR RAMLAKE_DIR SEED START_0 .. START_%d\n",
                 kEngineWriters - 1);
    return 2;
  }
  const std::uint64_t seed = std::strtoull(argv[3], nullptr, 10);
  std::vector<std::uint64_t> starts;
  for (int w = 0; w < kEngineWriters; ++w) starts.push_back(std::strtoull(argv[4 + w], nullptr, 10));

  auto opened = HybridMemory::Open(EngineWriterConfig(argv[1], argv[2]));
  if (!opened.ok()) Die(3, "open: " + opened.status().ToString());
  HybridMemory& memory = **opened;

  std::vector<std::thread> threads;
  for (int w = 0; w < kEngineWriters; ++w) {
    threads.emplace_back([&memory, w, start = starts[w]] {
      for (std::uint64_t i = start;; ++i) {
        const EngineWriterOp op = EngineWriterOpFor(w, i);
        Status s = Apply(memory, op);
        if (!s.ok()) Die(4, "writer " + std::to_string(w) + " op " + std::to_string(i) + ": " + s.ToString());
        const std::uint64_t ack = EngineWriterAck(w, i);
        if (::write(1, &ack, sizeof ack) != static_cast<ssize_t>(sizeof ack)) Die(6, "writing to the pipe");
      }
    });
  }
  threads.emplace_back([&memory, seed] {
    std::mt19937_64 rng(seed);
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 26));
      auto checkpoint = memory.Sync();
      if (!checkpoint.ok()) Die(5, "checkpoint: " + checkpoint.status().ToString());
    }
  });
  for (auto& t : threads) t.join();  // never: the parent kills us
  return 0;
}
