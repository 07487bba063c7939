// Admin HTTP endpoints of syncline-node: /healthz, /status (JSON) and /metrics (Prometheus text
// format). The handlers read Node::GetStatus(), which is safe from any thread.
#ifndef SYNCLINE_NODE_DAEMON_ADMIN_H_
#define SYNCLINE_NODE_DAEMON_ADMIN_H_

#include <string>

namespace httplib {
class Server;
}

namespace syncline {
class Node;
struct NodeStatus;

namespace daemon {

void InstallAdminRoutes(httplib::Server* server, Node* node);
std::string StatusJson(const NodeStatus& st);
std::string MetricsText(const NodeStatus& st);

}  // namespace daemon
}  // namespace syncline

#endif  // SYNCLINE_NODE_DAEMON_ADMIN_H_
