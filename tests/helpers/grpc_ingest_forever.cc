// A gRPC client for grpc_hostile_test that streams IngestCode and never
// ends the stream, so that the test can kill it (SIGKILL) in the middle:
//
//   grpc_ingest_forever PORT
//
// Writes files of 32 KiB (paths "killed/N.txt", N cycling over 64 names, so
// the node's store stays small however long it runs) as fast as the node
// takes them. Prints "streaming" once the first file went out (stdout is a
// file: flushed at once), and "wrote N" every 64 files. Never returns on
// its own unless the stream breaks (exit 1, with the status on stderr).
#include <cstdio>
#include <cstdlib>
#include <string>

#include <grpcpp/grpcpp.h>

#include "postdevai/memory/v1/memory.grpc.pb.h"

namespace v1 = postdevai::memory::v1;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: grpc_ingest_forever PORT\n");
    return 2;
  }
  const std::string target = std::string("127.0.0.1:") + argv[1];
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  auto stub = v1::Memory::NewStub(channel);
  grpc::ClientContext ctx;
  v1::IngestCodeReply reply;
  auto writer = stub->IngestCode(&ctx, &reply);
  std::string content(32 << 10, 'x');
  for (std::size_t i = 0; i < content.size(); i += 64) content[i] = '\n';
  v1::StoreCodeRequest request;
  request.set_language("text");
  for (unsigned long n = 0;; ++n) {
    request.set_path("killed/" + std::to_string(n % 64) + ".txt");
    content[1] = static_cast<char>('a' + n % 26);
    request.set_content(content);
    if (!writer->Write(request)) break;
    if (n == 0) {
      std::printf("streaming\n");
      std::fflush(stdout);
    } else if (n % 64 == 0) {
      std::printf("wrote %lu\n", n);
      std::fflush(stdout);
    }
  }
  grpc::Status status = writer->Finish();
  std::fprintf(stderr, "stream ended: %d %s\n", static_cast<int>(status.error_code()), status.error_message().c_str());
  return 1;
}
