// Mutual TLS between postdevai-cli and dragon_node: certificates made at
// test time with the openssl command-line tool (never committed), a node
// that requires them, and clients with the right certificate, none, or one
// from another CA. A refused client must fail (non-zero exit, one line
// naming the node) and leave the node serving.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/helpers/cli_process.h"
#include "tests/helpers/node_process.h"

using namespace postdevai;
using namespace postdevai::testing;

namespace {

// Runs an openssl command in `dir`; fails the test with its output if it fails.
void OpenSsl(const TempDir& dir, const std::string& args) {
  const std::string log = dir / "openssl.log";
  const std::string command = "cd '" + dir.path() + "' && openssl " + args + " > '" + log + "' 2>&1";
  const int rc = std::system(command.c_str());
  INFO("openssl " << args << "\n" << ReadFile(log));
  REQUIRE(rc == 0);
}

// A CA (self-signed), and a leaf certificate `name` it signs.
void MakeCa(const TempDir& dir, const std::string& ca) {
  OpenSsl(dir, "req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -keyout " + ca + ".key -out " + ca +
                   ".crt -subj /CN=" + ca);
}

// Every leaf names this machine (127.0.0.1, localhost): gRPC clients check
// that the node's certificate names the host they dialled.
void MakeLeaf(const TempDir& dir, const std::string& ca, const std::string& name) {
  WriteFile(dir / "san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  OpenSsl(dir, "req -newkey rsa:2048 -nodes -sha256 -keyout " + name + ".key -out " + name + ".csr -subj /CN=" + name);
  OpenSsl(dir, "x509 -req -sha256 -days 2 -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
                   ".key -CAcreateserial -extfile san.ext -out " + name + ".crt");
}

struct Pki {
  TempDir dir{"tls-pki"};
  Pki() {
    MakeCa(dir, "ca");
    MakeLeaf(dir, "ca", "server");
    MakeLeaf(dir, "ca", "client");
    MakeCa(dir, "other-ca");
    MakeLeaf(dir, "other-ca", "stranger");
  }
  std::string NodeSection() const {
    return "certificate = \"" + (dir / "server.crt") + "\"\nkey = \"" + (dir / "server.key") + "\"\nca_file = \"" +
           (dir / "ca.crt") + "\"\n";
  }
  std::vector<std::string> Client(const std::string& leaf, const std::string& ca = "ca") const {
    return {"--cert", dir / (leaf + ".crt"), "--key", dir / (leaf + ".key"), "--ca", dir / (ca + ".crt")};
  }
};

std::vector<std::string> Args(const NodeProcess& node, std::vector<std::string> tls, std::vector<std::string> command) {
  std::vector<std::string> args = {"--node", "127.0.0.1:" + std::to_string(node.port()), "--timeout", "30"};
  args.insert(args.end(), tls.begin(), tls.end());
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

// A refused client: non-zero exit, one line naming the node, within the timeout.
void ExpectRefused(const NodeProcess& node, const std::vector<std::string>& tls, const std::string& what) {
  const auto start = std::chrono::steady_clock::now();
  CliResult r = RunCli(Args(node, tls, {"--json", "memory", "stats"}));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(what << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.ErrIsOneLine());
  CHECK(r.err.find("127.0.0.1:" + std::to_string(node.port())) != std::string::npos);
  CHECK(r.Json().Has("error"));
  CHECK(seconds < 35);
  REQUIRE(ProcessAlive(node.pid()));
}

}  // namespace

TEST_CASE("mutual TLS: the right client certificate works, others are refused", "[tls][cli]") {
  Pki pki;
  NodeProcess node("", pki.NodeSection());
  REQUIRE(node.log().find("(mutual TLS)") != std::string::npos);

  // The right certificate: every request goes through.
  CliResult set = RunCli(Args(node, pki.Client("client"), {"--json", "meta", "set", "secret", "s3cr3t"}));
  INFO(set.err);
  REQUIRE(set.exit_code == 0);
  CliResult get = RunCli(Args(node, pki.Client("client"), {"--json", "meta", "get", "secret"}));
  REQUIRE(get.exit_code == 0);
  CHECK(get.Json()["value"].string == "s3cr3t");
  CliResult stats = RunCli(Args(node, pki.Client("client"), {"--json", "memory", "stats"}));
  REQUIRE(stats.exit_code == 0);
  CHECK(stats.Json()["writes"].u64() == 1);

  // The TLS files can come from a config file's [node] section instead.
  const std::string client_config = pki.dir / "client.toml";
  WriteFile(client_config, "[node]\naddress = \"127.0.0.1\"\nport = " + std::to_string(node.port()) +
                               "\ncertificate = \"" + (pki.dir / "client.crt") + "\"\nkey = \"" +
                               (pki.dir / "client.key") + "\"\nca_file = \"" + (pki.dir / "ca.crt") + "\"\n");
  CliResult via_config = RunCli({"--config", client_config, "--json", "meta", "get", "secret"});
  INFO(via_config.err);
  CHECK(via_config.exit_code == 0);

  SECTION("refused clients fail and leave the node serving") {
    ExpectRefused(node, {}, "no certificate (plaintext)");
    ExpectRefused(node, pki.Client("stranger", "other-ca"), "a certificate from another CA");
    ExpectRefused(node, pki.Client("stranger", "ca"), "another CA's certificate, trusting the node's CA");
    ExpectRefused(node, pki.Client("client", "other-ca"), "the right certificate, but not trusting the node's CA");
    // Still serving the right client, with its data.
    CliResult after = RunCli(Args(node, pki.Client("client"), {"--json", "meta", "get", "secret"}));
    INFO(after.err);
    CHECK(after.exit_code == 0);
    CHECK(after.Json()["value"].string == "s3cr3t");
  }

  SECTION("half a TLS setup is a bad argument, not a silent plaintext attempt") {
    CliResult r = RunCli(Args(node, {"--cert", pki.dir / "client.crt"}, {"memory", "stats"}));
    CHECK(r.exit_code == 2);
    CHECK(r.ErrIsOneLine());
    CHECK(r.err.find("mutual TLS needs --cert and --key together") != std::string::npos);
    CliResult missing = RunCli(Args(node, {"--cert", pki.dir / "nope.crt", "--key", pki.dir / "client.key", "--ca",
                                           pki.dir / "ca.crt"},
                                    {"memory", "stats"}));
    CHECK(missing.exit_code == 2);
    CHECK(missing.err.find("nope.crt") != std::string::npos);
  }
}

TEST_CASE("TLS without client certificates: the node proves itself, clients need only its CA", "[tls][cli]") {
  Pki pki;
  NodeProcess node("", "certificate = \"" + (pki.dir / "server.crt") + "\"\nkey = \"" + (pki.dir / "server.key") + "\"\n");
  REQUIRE(node.log().find("(TLS)") != std::string::npos);
  CliResult set = RunCli(Args(node, {"--ca", pki.dir / "ca.crt"}, {"--json", "meta", "set", "k", "v"}));
  INFO(set.err);
  CHECK(set.exit_code == 0);
  // A client that does not trust the node's CA, or speaks plaintext, is refused.
  ExpectRefused(node, {"--ca", pki.dir / "other-ca.crt"}, "trusting another CA");
  ExpectRefused(node, {}, "plaintext");
}

TEST_CASE("the CAF endpoint: off by default, mutual TLS when on, and an actor host uses it", "[tls][remote]") {
  {
    NodeProcess plain;
    CHECK(plain.caf_port() == 0);
    CHECK(plain.log().find("serving the engine at") == std::string::npos);
  }
  Pki pki;
  NodeProcess node("[caf]\nenabled = true\nport = 0\n", pki.NodeSection());
  REQUIRE(node.caf_port() != 0);
  REQUIRE(node.log().find("(CAF endpoint, mutual TLS)") != std::string::npos);
  const std::string actors_dir = std::string(POSTDEVAI_SOURCE_DIR) + "/actors";
  auto host = [&](std::vector<std::string> tls) {
    std::vector<std::string> args = {"--node", "127.0.0.1:" + std::to_string(node.caf_port()), "--max-files", "8"};
    args.insert(args.end(), tls.begin(), tls.end());
    args.push_back(actors_dir);
    return RunProgram("postdevai-example-host", args);
  };
  CliResult ok = host(pki.Client("client"));
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("OK: the node's engine read back what it wrote") != std::string::npos);
  for (const auto& refused : {std::vector<std::string>{}, pki.Client("stranger", "other-ca"), pki.Client("stranger", "ca")}) {
    CliResult r = host(refused);
    INFO(r.out << r.err);
    CHECK(r.exit_code != 0);
    REQUIRE(ProcessAlive(node.pid()));
  }
  // The gRPC door of the same node serves on.
  CliResult get = RunCli(Args(node, pki.Client("client"), {"--json", "memory", "stats"}));
  CHECK(get.exit_code == 0);

  // CAF 0.17 allocates the payload a BASP header declares before looking at
  // it (0xFFFFFFF0 bytes per connection took a host down over plaintext).
  // Behind mutual TLS a peer without a certificate never gets a byte to BASP:
  // its bytes are not a TLS handshake and the connection is dropped.
  auto rss_kb = [](pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0L;
  };
  const long before_kb = rss_kb(node.pid());
  std::string basp_header(48, '\0');
  basp_header[0] = 0;  // server handshake
  basp_header[4] = basp_header[5] = basp_header[6] = static_cast<char>(0xFF);  // payload_len 0xFFFFFFF0
  basp_header[7] = static_cast<char>(0xF0);
  std::vector<int> bombs;
  for (int i = 0; i < 3; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(node.caf_port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    REQUIRE(::send(fd, basp_header.data(), basp_header.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(basp_header.size()));
    bombs.push_back(fd);
  }
  int dropped = 0;
  for (int fd : bombs) {
    // Dropped by the node: the read ends (0 or an error) within 10 s.
    pollfd p{fd, POLLIN, 0};
    char buf[4096];
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
      if (::poll(&p, 1, 100) > 0 && ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) {
        ++dropped;
        break;
      }
    }
    ::close(fd);
  }
  const long growth_kb = rss_kb(node.pid()) - before_kb;
  INFO("3 connections declaring a 4 GiB BASP payload: " << dropped << " dropped, RSS growth " << growth_kb << " KiB");
  CHECK(dropped == 3);
  CHECK(growth_kb < 64 * 1024);
  REQUIRE(ProcessAlive(node.pid()));
  CliResult after = host(pki.Client("client"));
  CHECK(after.exit_code == 0);
}
