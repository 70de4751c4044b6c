// `diagnose memory`: asks the node to diagnose itself (the Diagnose call of
// its gRPC API: its reports, config and files, client/diagnosis.h) and
// prints the findings, each with what to do about it.
#include <cstdio>
#include <map>

#include "programs/cli/commands.h"

namespace postdevai::cli {

namespace {

int Rank(const std::string& status) {
  if (status == "critical") return 3;
  if (status == "warning") return 2;
  if (status == "unknown") return 1;
  return 0;
}

}  // namespace

Status DiagnoseMemory(CommandContext& ctx, const ParsedArgs&) {
  auto endpoint = ctx.NodeEndpoint();
  if (!endpoint.ok()) return endpoint.status();
  auto node = ctx.Node();
  if (!node.ok()) return node.status();
  auto findings_or = (*node)->Diagnose();
  if (!findings_or.ok()) return findings_or.status();
  const std::vector<records::finding>& found = *findings_or;
  const bool local = IsLoopbackAddress(endpoint->host);

  std::map<std::string, int> counts;
  std::string worst = "ok";
  for (const auto& f : found) {
    ++counts[f.status];
    if (Rank(f.status) > Rank(worst)) worst = f.status;
  }
  Json& j = ctx.result();
  j.Set("node", (*node)->endpoint()).Set("local", local).Set("config", ctx.options().config_path.empty() ? Json() : Json(ctx.options().config_path));
  Json findings = Json::MakeArray();
  for (const auto& f : found) {
    Json fj = Json::MakeObject();
    fj.Set("check", f.check).Set("status", f.status).Set("finding", f.seen).Set("action", f.action.empty() ? Json() : Json(f.action));
    findings.Push(std::move(fj));
  }
  j.Set("findings", std::move(findings));
  Json summary = Json::MakeObject();
  summary.Set("ok", counts["ok"])
      .Set("unknown", counts["unknown"])
      .Set("warning", counts["warning"])
      .Set("critical", counts["critical"])
      .Set("worst", worst);
  j.Set("summary", std::move(summary));
  if (ctx.json()) return Status::Ok();

  std::printf("diagnose memory: node %s\n\n", (*node)->endpoint().c_str());
  for (const auto& f : found) {
    std::printf("[%-8s] %-16s %s\n", f.status.c_str(), f.check.c_str(), f.seen.c_str());
    if (!f.action.empty()) std::printf("%28s→ %s\n", "", f.action.c_str());
  }
  std::printf("\n%d ok, %d warning, %d critical, %d unknown\n", counts["ok"], counts["warning"], counts["critical"],
              counts["unknown"]);
  return Status::Ok();
}

}  // namespace postdevai::cli
