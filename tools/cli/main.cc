// syncline: the command-line tool. Each subcommand lives in its own file (see cli.h for the list
// and the exit codes).
#include "cli.h"

int main(int argc, char** argv) {
  using namespace syncline::cli;
  CLI::App app{"syncline: inspect and use a Syncline cluster"};
  app.require_subcommand(1);
  Globals g;
  int exit_code = kExitOk;
  app.add_option("--cluster", g.cluster_file, "cluster file (default: $SYNCLINE_CLUSTER or .syncline/cluster.toml)");
  app.add_option("--node", g.node, "the node to address: an id from the cluster file or HOST:PORT of its client endpoint");
  app.add_flag("--json", g.json, "print JSON instead of tables");
  app.add_option("--timeout-ms", g.timeout_millis, "how long to wait for a node's answer")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--ack", g.ack, "write acknowledgement: local, one, quorum or all (default: the node's)")
      ->check(CLI::IsMember({"local", "one", "quorum", "all"}));
  app.add_option("--ack-timeout-ms", g.ack_timeout_millis, "how long a write waits for its acknowledgement (default: the node's)")
      ->check(CLI::PositiveNumber);
  app.fallthrough();
  for (Register r : {RegisterPut, RegisterGet, RegisterDel, RegisterCounter, RegisterSet, RegisterMap, RegisterCreate,
                     RegisterStatus, RegisterDigest, RegisterDump, RegisterCluster, RegisterWatch, RegisterPromote,
                     RegisterInspect, RegisterConflicts, RegisterDiff, RegisterVerify, RegisterAntiEntropy}) {
    r(app, g, &exit_code);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}
