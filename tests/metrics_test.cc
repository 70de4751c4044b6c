// The node's /metrics endpoint, scraped as Prometheus would, after real
// requests over TCP; promtool checks the exposition.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <caf/io/all.hpp>
#include <regex>

#include "actors/errors.h"
#include "actors/remote.h"
#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_process.h"

using namespace postdevai;
using namespace postdevai::actors;

namespace {

// GET /metrics over a plain socket; the body.
std::string Scrape(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) response.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  auto body = response.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  CHECK(response.rfind("HTTP/1.", 0) == 0);
  return response.substr(body + 4);
}

double Value(const std::string& text, const std::string& series) {
  std::regex re("(^|\\n)" + std::regex_replace(series, std::regex(R"([{}\[\]().*+?^$|\\])"), R"(\$&)") +
                " ([-0-9.eE+]+|NaN|Nan)");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return -1;
  return std::stod(m[2]);
}

}  // namespace

TEST_CASE("a scrape shows what the node did, in a format promtool accepts", "[metrics]") {
  testing::NodeProcess node(testing::NodeProcess::CafEnabled());
  caf::actor_system_config cfg;
  AddMessageTypes(cfg);
  LoadNetworkModules(cfg, NodeConfig{});
  caf::actor_system sys{cfg};
  auto controller = ConnectToNode(sys, "127.0.0.1", node.caf_port(), NodeConfig{});
  REQUIRE(controller.ok());
  caf::scoped_actor self{sys};
  const auto code = DataKind::kCode;
  for (int i = 0; i < 10; ++i) {
    write_batch batch;
    batch.mutations.push_back(mutation{code, "file" + std::to_string(i), std::string(2000, 'a' + i), false});
    self->request(*controller, std::chrono::seconds(10), write_atom_v, batch)
        .receive([](std::uint64_t) {}, [](caf::error& e) { FAIL(caf::to_string(e)); });
  }
  for (int i = 0; i < 4; ++i) {
    self->request(*controller, std::chrono::seconds(10), read_atom_v, code, "file" + std::to_string(i), std::string("metrics-test"))
        .receive([](read_result&) {}, [](caf::error& e) { FAIL(caf::to_string(e)); });
  }

  // Through the gRPC door: one answered call and one refused (no such key).
  const std::string node_arg = "127.0.0.1:" + std::to_string(node.port());
  REQUIRE(testing::RunCli({"--node", node_arg, "meta", "set", "k", "v"}).exit_code == 0);
  REQUIRE(testing::RunCli({"--node", node_arg, "meta", "get", "missing"}).exit_code == 1);

  // The exporter refreshes every second.
  std::string text;
  for (int attempt = 0; attempt < 300; ++attempt) {
    text = Scrape(node.metrics_port());
    if (Value(text, "postdevai_operations_total{op=\"write\"}") >= 11 &&
        Value(text, "postdevai_operations_total{op=\"read\"}") >= 5 && Value(text, "postdevai_grpc_errors_total") >= 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(text);
  CHECK(Value(text, "postdevai_operations_total{op=\"write\"}") == 11);
  CHECK(Value(text, "postdevai_operations_total{op=\"read\"}") == 5);
  CHECK(Value(text, "ramlake_entries{partition=\"code\"}") == 10);
  // Each CLI run asks Info, then its command: 4 gRPC calls, 1 refused by the engine.
  CHECK(Value(text, "postdevai_grpc_calls_total") == 4);
  CHECK(Value(text, "postdevai_grpc_errors_total") == 1);
  CHECK(Value(text, "postdevai_grpc_refused_total{reason=\"token\"}") == 0);
  CHECK(Value(text, "postdevai_grpc_calls_in_flight") == 0);
  CHECK(Value(text, "ramlake_usage_bytes{partition=\"code\"}") > 20000);
  CHECK(Value(text, "ramlake_budget_bytes{partition=\"code\"}") > 0);
  CHECK(Value(text, "cache_hit_rate") == Approx(0.8));  // the missing key is the one miss
  CHECK(Value(text, "sync_lag_seconds") >= 0);
  CHECK(Value(text, "compression_ratio") > 10);  // 2000 repeated bytes compress well
  CHECK(Value(text, "persistent_usage_bytes") >= 0);
  // Ten records, their values logged compressed (20000 bytes raw).
  CHECK(Value(text, "wal_bytes_total") > 320);
  CHECK(Value(text, "wal_bytes_total") < 20000);
  CHECK(Value(text, "durable_lsn") == 11);
  CHECK(Value(text, "postdevai_request_duration_seconds_count{op=\"write\"}") == 11);
  CHECK(text.find("postdevai_request_duration_seconds_bucket{op=\"read\",le=\"+Inf\"} 5") != std::string::npos);

  // promtool (Debian's prometheus package) validates the exposition.
  const std::string path = node.disk() / "scrape.txt";
  testing::WriteFile(path, text);
  const std::string command = "promtool check metrics < " + path + " 2>&1";
  FILE* out = ::popen(command.c_str(), "r");
  REQUIRE(out != nullptr);
  std::string verdict;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, out)) verdict += buf;
  INFO(verdict);
  CHECK(::pclose(out) == 0);
  CHECK(node.Stop() == 0);
}
