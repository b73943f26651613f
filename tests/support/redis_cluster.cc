#include "tests/support/redis_cluster.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace legwise::testing {
namespace {

std::string FindRedisCli() {
  for (const char* p : {"/usr/bin/redis-cli", "/usr/local/bin/redis-cli"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "redis-cli";
}

// Runs argv (no shell) and returns its standard output; its standard error is discarded. An exit
// status other than 0 is an error carrying the output.
absl::StatusOr<std::string> RunCapture(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe(fds) != 0) return absl::InternalError("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 2);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat(argv.size() > 1 ? argv[1] : argv[0], " failed: ", out.substr(0, 2000)));
  }
  return out;
}

}  // namespace

RedisCluster::RedisCluster(int masters, int replicas_per_master)
    : masters_(masters), replicas_(replicas_per_master) {
  const int n = masters * (1 + replicas_per_master);
  for (int i = 0; i < n; ++i) {
    // The bus port is chosen too: port + 10000 may be taken or out of range.
    nodes_.push_back(std::make_unique<RedisServer>(std::vector<std::string>{
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port",
        absl::StrCat(FreePort()), "--cluster-node-timeout", "1000",
        // A replica takes over however long ago it last heard its master.
        "--cluster-replica-validity-factor", "0"}));
  }
  killed_.assign(n, false);
}

RedisCluster::~RedisCluster() {
  for (auto& node : nodes_) node->Kill();
}

std::string RedisCluster::seeds() const {
  std::vector<std::string> out;
  for (const auto& node : nodes_) out.push_back(node->address());
  return absl::StrJoin(out, ",");
}

absl::StatusOr<std::string> RedisCluster::RawCli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {FindRedisCli()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCapture(argv);
}

absl::StatusOr<std::string> RedisCluster::Cli(int i, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"-h", "127.0.0.1", "-p", absl::StrCat(nodes_[i]->port())};
  argv.insert(argv.end(), args.begin(), args.end());
  return RawCli(argv);
}

absl::Status RedisCluster::Start(absl::Duration timeout) {
  for (auto& node : nodes_) {
    if (absl::Status s = node->Start(); !s.ok()) return s;
  }
  std::vector<std::string> create = {"--cluster", "create"};
  for (const auto& node : nodes_) create.push_back(node->address());
  create.insert(create.end(), {"--cluster-replicas", absl::StrCat(replicas_), "--cluster-yes"});
  absl::StatusOr<std::string> out = RawCli(create);
  if (!out.ok()) return out.status();
  return WaitUntilOk(timeout);
}

int RedisCluster::IndexOfPort(int port) const {
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i]->port() == port) return i;
  }
  return -1;
}

absl::StatusOr<std::vector<RedisCluster::NodeInfo>> RedisCluster::Nodes(int i) {
  absl::StatusOr<std::string> out = Cli(i, {"CLUSTER", "NODES"});
  if (!out.ok()) return out.status();
  std::vector<NodeInfo> nodes;
  for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipWhitespace())) {
    // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot> ...
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 8) continue;
    NodeInfo n;
    n.id = std::string(f[0]);
    absl::string_view addr = f[1].substr(0, f[1].find('@'));
    if (!absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &n.port)) continue;
    n.master = absl::StrContains(f[2], "master");
    n.failed = absl::StrContains(f[2], "fail");
    n.master_id = f[3] == "-" ? "" : std::string(f[3]);
    for (size_t k = 8; k < f.size(); ++k) {
      if (f[k].front() == '[') continue;  // a slot being migrated or imported
      std::vector<absl::string_view> range = absl::StrSplit(f[k], '-');
      int a = 0, b = 0;
      if (!absl::SimpleAtoi(range[0], &a)) continue;
      b = a;
      if (range.size() == 2 && !absl::SimpleAtoi(range[1], &b)) continue;
      n.slots += b - a + 1;
    }
    nodes.push_back(std::move(n));
  }
  return nodes;
}

absl::StatusOr<int> RedisCluster::MasterOf(int slot) {
  for (int i = 0; i < size(); ++i) {
    if (killed_[i]) continue;
    absl::StatusOr<std::string> out = Cli(i, {"CLUSTER", "NODES"});
    if (!out.ok()) return out.status();
    for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipWhitespace())) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      // A master that failed (or may have: "fail?") is not the owner, even while this node's
      // view still lists its slots.
      if (f.size() < 9 || !absl::StrContains(f[2], "master") || absl::StrContains(f[2], "fail")) {
        continue;
      }
      for (size_t k = 8; k < f.size(); ++k) {
        if (f[k].front() == '[') continue;
        std::vector<absl::string_view> range = absl::StrSplit(f[k], '-');
        int a = 0, b = 0;
        if (!absl::SimpleAtoi(range[0], &a)) continue;
        b = a;
        if (range.size() == 2 && !absl::SimpleAtoi(range[1], &b)) continue;
        if (slot >= a && slot <= b) {
          absl::string_view addr = f[1].substr(0, f[1].find('@'));
          int port = 0;
          if (!absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &port)) continue;
          return IndexOfPort(port);
        }
      }
    }
    return absl::NotFoundError(absl::StrCat("slot ", slot, " has no master"));
  }
  return absl::UnavailableError("no live node");
}

absl::StatusOr<std::vector<int>> RedisCluster::Masters() {
  for (int i = 0; i < size(); ++i) {
    if (killed_[i]) continue;
    absl::StatusOr<std::vector<NodeInfo>> nodes = Nodes(i);
    if (!nodes.ok()) return nodes.status();
    std::vector<int> out;
    for (const NodeInfo& n : *nodes) {
      if (n.master && !n.failed && n.slots > 0) out.push_back(IndexOfPort(n.port));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  return absl::UnavailableError("no live node");
}

absl::Status RedisCluster::WaitUntilOk(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = "not asked yet";
  while (absl::Now() < deadline) {
    bool all_ok = true;
    std::set<std::vector<int>> views;
    for (int i = 0; i < size() && all_ok; ++i) {
      if (killed_[i]) continue;
      absl::StatusOr<std::string> info = Cli(i, {"CLUSTER", "INFO"});
      if (!info.ok() || !absl::StrContains(*info, "cluster_state:ok") ||
          !absl::StrContains(*info, "cluster_slots_assigned:16384")) {
        all_ok = false;
        last = absl::StrCat("node ", i, ": ", info.ok() ? info->substr(0, 60) : "no answer");
        break;
      }
      absl::StatusOr<std::vector<NodeInfo>> nodes = Nodes(i);
      if (!nodes.ok()) {
        all_ok = false;
        break;
      }
      std::vector<int> masters;
      int slots = 0;
      for (const NodeInfo& n : *nodes) {
        // A master we killed counts as gone even before the others have noticed it.
        const int index = IndexOfPort(n.port);
        if (n.master && !n.failed && n.slots > 0 && !(index >= 0 && killed_[index])) {
          masters.push_back(n.port);
          slots += n.slots;
        }
      }
      std::sort(masters.begin(), masters.end());
      if (slots != 16384) {
        all_ok = false;
        last = absl::StrCat("node ", i, " sees ", slots, " slots served");
        break;
      }
      views.insert(masters);
    }
    if (all_ok && views.size() == 1) return absl::OkStatus();
    if (all_ok) last = "the nodes disagree on the masters";
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("cluster not ok in time: ", last));
}

absl::Status RedisCluster::MigrateSlot(int slot, int to, int batch, absl::Duration dwell) {
  absl::StatusOr<int> from = MasterOf(slot);
  if (!from.ok()) return from.status();
  if (*from == to) return absl::OkStatus();
  absl::StatusOr<std::string> from_id = Cli(*from, {"CLUSTER", "MYID"});
  absl::StatusOr<std::string> to_id = Cli(to, {"CLUSTER", "MYID"});
  if (!from_id.ok()) return from_id.status();
  if (!to_id.ok()) return to_id.status();
  std::string fid(absl::StripAsciiWhitespace(*from_id)), tid(absl::StripAsciiWhitespace(*to_id));
  const std::string s = absl::StrCat(slot);
  auto check = [](const absl::StatusOr<std::string>& r) -> absl::Status {
    if (!r.ok()) return r.status();
    if (absl::StrContains(*r, "ERR")) return absl::InternalError(*r);
    return absl::OkStatus();
  };
  if (absl::Status st = check(Cli(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", fid})); !st.ok()) {
    return st;
  }
  if (absl::Status st = check(Cli(*from, {"CLUSTER", "SETSLOT", s, "MIGRATING", tid})); !st.ok()) {
    return st;
  }
  while (true) {
    absl::StatusOr<std::string> keys =
        Cli(*from, {"CLUSTER", "GETKEYSINSLOT", s, absl::StrCat(batch)});
    if (!keys.ok()) return keys.status();
    std::vector<std::string> list = absl::StrSplit(*keys, '\n', absl::SkipWhitespace());
    if (list.empty()) break;
    std::vector<std::string> migrate = {
        "MIGRATE", "127.0.0.1", absl::StrCat(node(to).port()), "", "0", "5000", "REPLACE", "KEYS"};
    migrate.insert(migrate.end(), list.begin(), list.end());
    absl::StatusOr<std::string> r = Cli(*from, migrate);
    if (!r.ok()) return r.status();
    if (!absl::StrContains(*r, "OK") && !absl::StrContains(*r, "NOKEY")) {
      return absl::InternalError(absl::StrCat("MIGRATE: ", *r));
    }
    absl::SleepFor(dwell);
  }
  // The target first, then the source, then everyone else (as redis-cli does).
  if (absl::Status st = check(Cli(to, {"CLUSTER", "SETSLOT", s, "NODE", tid})); !st.ok()) return st;
  if (absl::Status st = check(Cli(*from, {"CLUSTER", "SETSLOT", s, "NODE", tid})); !st.ok()) {
    return st;
  }
  for (int i = 0; i < size(); ++i) {
    if (i == to || i == *from || killed_[i]) continue;
    (void)Cli(i, {"CLUSTER", "SETSLOT", s, "NODE", tid});  // a replica refuses; that is fine
  }
  return absl::OkStatus();
}

absl::Status RedisCluster::Reshard(int from, int to, int slots) {
  absl::StatusOr<std::string> from_id = Cli(from, {"CLUSTER", "MYID"});
  absl::StatusOr<std::string> to_id = Cli(to, {"CLUSTER", "MYID"});
  if (!from_id.ok()) return from_id.status();
  if (!to_id.ok()) return to_id.status();
  absl::StatusOr<std::string> out =
      RawCli({"--cluster", "reshard", node(from).address(), "--cluster-from",
              std::string(absl::StripAsciiWhitespace(*from_id)), "--cluster-to",
              std::string(absl::StripAsciiWhitespace(*to_id)), "--cluster-slots",
              absl::StrCat(slots), "--cluster-yes", "--cluster-pipeline", "10"});
  return out.status();
}

void RedisCluster::KillNode(int i) {
  nodes_[i]->Kill();
  killed_[i] = true;
}

}  // namespace legwise::testing
