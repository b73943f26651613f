// Integration-test support: a real Redis Cluster on loopback. Six (by default) redis-server
// processes with --cluster-enabled yes on free ports, joined by `redis-cli --cluster create
// --cluster-replicas 1`, waited on until every node reports cluster_state:ok. Helpers move slots
// (live, under load: CLUSTER SETSLOT IMPORTING/MIGRATING plus MIGRATE, or `redis-cli --cluster
// reshard`) and kill masters to make a replica take over. The destructor kills every node.
#ifndef LEGWISE_TESTS_SUPPORT_REDIS_CLUSTER_H_
#define LEGWISE_TESTS_SUPPORT_REDIS_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/process.h"

namespace legwise::testing {

class RedisCluster {
 public:
  // One line of CLUSTER NODES.
  struct NodeInfo {
    std::string id;
    int port = 0;
    bool master = false;
    bool failed = false;    // flagged fail or fail?
    std::string master_id;  // for a replica
    int slots = 0;          // how many slots it serves
  };

  explicit RedisCluster(int masters = 3, int replicas_per_master = 1);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // Starts the nodes, creates the cluster and waits until it is ok everywhere.
  absl::Status Start(absl::Duration timeout = absl::Seconds(60));

  int size() const { return static_cast<int>(nodes_.size()); }
  RedisServer& node(int i) { return *nodes_[i]; }
  // Every node's address, comma-separated: what --redis_addr takes with --redis_cluster.
  std::string seeds() const;
  // Whether node i has been killed by KillNode.
  bool killed(int i) const { return killed_[i]; }

  // Runs `redis-cli -p <node i's port> args...`; returns its standard output.
  absl::StatusOr<std::string> Cli(int i, const std::vector<std::string>& args);
  // Runs redis-cli with `args` only (e.g. {"--cluster", "reshard", ...}).
  absl::StatusOr<std::string> RawCli(const std::vector<std::string>& args);

  // CLUSTER NODES as node i sees it.
  absl::StatusOr<std::vector<NodeInfo>> Nodes(int i);
  // The index (in node()) of the node with `port`, or -1.
  int IndexOfPort(int port) const;
  // The index of the master serving `slot` (as the first live node sees it).
  absl::StatusOr<int> MasterOf(int slot);
  // The indexes of the current masters that serve slots, as the first live node sees it.
  absl::StatusOr<std::vector<int>> Masters();

  // Waits until every live node answers cluster_state:ok and all of them agree on the masters.
  absl::Status WaitUntilOk(absl::Duration timeout = absl::Seconds(30));

  // Moves one slot from its master to node `to` the way redis-cli does, step by step: IMPORTING on
  // the target, MIGRATING on the source, MIGRATE of its keys `batch` at a time (sleeping `dwell`
  // between batches so that traffic meets the ASK state), then SETSLOT NODE everywhere.
  absl::Status MigrateSlot(int slot, int to, int batch = 10,
                           absl::Duration dwell = absl::Milliseconds(20));
  // `redis-cli --cluster reshard` of `slots` slots from master `from` to master `to`.
  absl::Status Reshard(int from, int to, int slots);

  // SIGKILL of node i (a crash); its replica takes over after cluster-node-timeout.
  void KillNode(int i);

 private:
  int masters_;
  int replicas_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<bool> killed_;
};

}  // namespace legwise::testing

#endif  // LEGWISE_TESTS_SUPPORT_REDIS_CLUSTER_H_
