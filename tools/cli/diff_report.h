// Shared by `syncline diff` and `syncline verify`: naming a node, and printing the differences
// between two live nodes (docs/diagnostics.md).
#ifndef SYNCLINE_TOOLS_CLI_DIFF_REPORT_H_
#define SYNCLINE_TOOLS_CLI_DIFF_REPORT_H_

#include <cstdint>
#include <string>

#include "cli.h"
#include "syncline/node/diff.h"

namespace syncline::cli {

// A node named by an id of the cluster file, or by host:port (its client endpoint, which is then
// also its id). NotFound when the cluster file has no such node.
Result<ClusterNode> ResolveNode(const Globals& g, const std::string& name);

// Compares `a` and `b` (named `a_name`, `b_name`) and prints the differing keys as they come,
// at most `max_keys` of them (0: all), then the counts per class and the bytes it cost. With
// `json` it prints one JSON object (no trailing newline), else text lines. Memory stays bounded
// by the page size whatever the number of keys. `*summary` gets the counts; returns the first
// error (then the output says so and holds what was compared so far).
Status PrintDiff(Client& a, Client& b, const std::string& a_name, const std::string& b_name,
                 const std::string& collection, uint64_t max_keys, bool json, DiffSummary* summary);

}  // namespace syncline::cli

#endif  // SYNCLINE_TOOLS_CLI_DIFF_REPORT_H_
