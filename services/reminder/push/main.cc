// legwise-push: the push sender as its own deployment (see k8s/README.md). Wiring only: flags,
// the providers' credentials, a PushSender, and the FeedConsumer reading the outbox's "push"
// consumer group. A gRPC server with only grpc.health.v1 (and the probe port), /metrics, and
// graceful SIGTERM: stop reading, let in-flight pushes finish for --shutdown_grace, acknowledge
// what ended, leave the rest pending for another replica.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/common/client_channel.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/redis_client.h"
#include "services/common/security.h"
#include "services/common/server_runner.h"
#include "services/reminder/devices/device_store.h"
#include "services/reminder/feed/consumer.h"
#include "services/reminder/push/credentials.h"
#include "services/reminder/push/sender.h"
#include "services/reminder/store/redis_store.h"

int main(int argc, char** argv) {
  legwise::ServerRunner::PrepareProcess();
  legwise::SetLogServiceName("push");

  legwise::ServerOptions server;
  server.service_name = "push";
  server.port = 50056;
  server.metrics_port = 9466;
  legwise::RedisOptions redis;
  redis.command_timeout = absl::Seconds(2);
  legwise::reminder::FeedConsumerOptions feed;
  legwise::push::SenderOptions sender_options;
  std::string vapid_key_file, vapid_subject;
  std::string apns_key_file, apns_key_id, apns_team_id, apns_topic;
  std::string apns_endpoint = "https://api.push.apple.com";
  std::string apns_sandbox_endpoint = "https://api.sandbox.push.apple.com";
  std::string fcm_credentials_file, fcm_endpoint = "https://fcm.googleapis.com";
  bool allow_insecure_loopback = false;
  std::string content_addr;
  absl::Duration content_deadline = absl::Milliseconds(300);
  legwise::ClientTlsOptions content_tls;
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') feed.consumer = host;

  legwise::FlagSet flags("legwise-push");
  legwise::AddServerFlags(&flags, &server);
  flags.AddString("redis_addr", &redis.address, "host:port of the reminder's Redis.");
  legwise::AddClientTlsFlags(&flags, "content", &content_tls);
  flags.AddString("content_addr", &content_addr,
                  "host:port of legwise-content: texts for devices whose locale is not the "
                  "nudge's; \"\" = built-in texts only.");
  flags.AddDuration("content_deadline", &content_deadline, "Deadline of ListNudgeTexts calls.");
  flags.AddBool("redis_cluster", &redis.cluster, "Redis Cluster mode.");
  flags.AddString("redis_password_file", &redis.password_file,
                  "File with the Redis password (else LEGWISE_REDIS_PASSWORD, else none).");
  flags.AddInt("due_buckets", &feed.num_buckets,
               "Buckets of the reminder's due index (= its outbox streams); the same value as "
               "legwise-reminder's --due_buckets.",
               1, 1024);
  flags.AddString("consumer_name", &feed.consumer,
                  "This replica's consumer name in the push group (default: the host name, "
                  "i.e. the pod name).");
  flags.AddInt("feed_batch", &feed.batch, "Entries per XREADGROUP / XAUTOCLAIM.", 1, 10000);
  flags.AddDuration("claim_interval", &feed.claim_interval,
                    "How often entries a dead consumer left are taken over (XAUTOCLAIM).");
  flags.AddDuration("claim_min_idle", &feed.claim_min_idle,
                    "Idle time after which a pending entry is taken over (more than a request "
                    "deadline plus the longest backoff).");
  flags.AddDuration("refresh_interval", &feed.refresh_interval,
                    "How often entries still in flight (in a retry backoff) get their idle time "
                    "reset, so no replica takes them over (under claim_min_idle).");
  flags.AddDuration("consumer_idle_limit", &feed.consumer_idle_limit,
                    "Other consumers idle this long with nothing pending leave the group.");
  flags.AddDuration("trim_interval", &feed.trim_interval,
                    "How often the feed is trimmed to what every group acknowledged.");
  flags.AddDuration("replay_window", &feed.replay_window,
                    "Feed entries this young are kept for StreamNudges replay.");
  flags.AddString("vapid_private_key_file", &vapid_key_file,
                  "Web Push: the VAPID key (PEM, P-256); \"\" = Web Push devices not served.");
  flags.AddString("vapid_subject", &vapid_subject, "Web Push: VAPID sub (mailto: or https:).");
  flags.AddString("apns_key_file", &apns_key_file, "APNs: the token-auth key (.p8); \"\" = off.");
  flags.AddString("apns_key_id", &apns_key_id, "APNs: the key's id (10 characters).");
  flags.AddString("apns_team_id", &apns_team_id, "APNs: the team id (10 characters).");
  flags.AddString("apns_topic", &apns_topic, "APNs: the app's bundle id.");
  flags.AddString("apns_endpoint", &apns_endpoint, "APNs production endpoint.");
  flags.AddString("apns_sandbox_endpoint", &apns_sandbox_endpoint,
                  "APNs development endpoint (devices registered with sandbox).");
  flags.AddString("fcm_credentials_file", &fcm_credentials_file,
                  "FCM: the service-account JSON; \"\" = FCM devices not served.");
  flags.AddString("fcm_endpoint", &fcm_endpoint, "FCM HTTP v1 endpoint.");
  flags.AddBool("push_allow_insecure_loopback", &allow_insecure_loopback,
                "Development and tests only: send to http://127.0.0.1:PORT/... endpoints.");
  flags.AddString("push_ca_file", &sender_options.ca_file,
                  "CA bundle to trust instead of the system's (tests).");
  flags.AddInt("max_in_flight", &sender_options.max_in_flight, "Requests in flight at most.", 1,
               100000);
  flags.AddInt("push_loop_threads", &sender_options.loop_threads,
               "Sender event-loop threads (one libcurl multi handle each; about one per core).", 1,
               64);
  flags.AddInt("max_pending", &sender_options.max_pending,
               "Pushes accepted at most (queued, in flight, waiting to retry).", 100, 10000000);
  flags.AddDuration("push_request_timeout", &sender_options.request_timeout,
                    "Deadline of one provider request.");
  flags.AddDuration("push_initial_backoff", &sender_options.retry.initial_backoff,
                    "First retry's backoff (429 / 5xx / timeouts).");
  flags.AddDuration("push_max_backoff", &sender_options.retry.max_backoff, "Longest backoff.");
  if (std::optional<int> exit_code = flags.ParseMain(argc, argv)) return *exit_code;
  auto fail = [](const absl::Status& s) {
    std::cerr << s.message() << "\n";
    return 2;
  };
  if (absl::Status s = redis.cluster ? legwise::ValidateHostPortList(redis.address, "redis_addr")
                                     : legwise::ValidateHostPort(redis.address, "redis_addr");
      !s.ok()) {
    return fail(s);
  }
  if (absl::Status s = legwise::LoadRedisPassword(&redis); !s.ok()) return fail(s);
  if (!content_addr.empty()) {
    if (absl::Status s = legwise::ValidateHostPort(content_addr, "content_addr"); !s.ok()) {
      return fail(s);
    }
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> content_credentials =
      legwise::MakeChannelCredentials(content_tls);
  if (!content_credentials.ok()) return fail(content_credentials.status());
  if (!vapid_key_file.empty()) {
    auto vapid = legwise::push::LoadVapidCredentials(vapid_key_file, vapid_subject);
    if (!vapid.ok()) return fail(vapid.status());
    sender_options.vapid = *std::move(vapid);
  }
  if (!apns_key_file.empty()) {
    auto creds = legwise::push::LoadApnsCredentials(apns_key_file, apns_key_id, apns_team_id);
    if (!creds.ok()) return fail(creds.status());
    if (apns_topic.empty()) return fail(absl::InvalidArgumentError("apns_topic: required"));
    legwise::push::ApnsOptions apns{*std::move(creds), apns_topic};
    apns.endpoint = apns_endpoint;
    apns.sandbox_endpoint = apns_sandbox_endpoint;
    sender_options.apns = std::move(apns);
  }
  if (!fcm_credentials_file.empty()) {
    auto text = legwise::push::ReadKeyFile(fcm_credentials_file);
    if (!text.ok()) return fail(text.status());
    auto creds = legwise::push::ParseFcmCredentials(*text);
    if (!creds.ok()) return fail(creds.status());
    legwise::push::FcmOptions fcm{*std::move(creds)};
    fcm.endpoint = fcm_endpoint;
    sender_options.fcm = std::move(fcm);
  }
  if (!sender_options.vapid && !sender_options.apns && !sender_options.fcm) {
    legwise::LogWarning("no_provider", {{"note", "no provider configured: every push refused"}});
  }
  sender_options.endpoint_policy.allow_insecure_loopback = allow_insecure_loopback;
  if (allow_insecure_loopback) {
    legwise::LogWarning("push_allow_insecure_loopback",
                        {{"note", "development only; http://127.0.0.1 push endpoints used"}});
  }
  feed.max_pending = sender_options.max_pending;
  redis.pool_size = 4;

  auto sender = legwise::push::PushSender::Create(std::move(sender_options));
  if (!sender.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(sender.status().message())}});
    return 1;
  }
  auto redis_client = std::make_shared<legwise::RedisClient>(redis);
  legwise::reminder::RedisStoreOptions store_options;
  store_options.num_buckets = feed.num_buckets;
  legwise::reminder::RedisReminderStore plans(redis_client, store_options);
  (void)plans.EnsureOutboxGroups();  // the consumer creates them again on NOGROUP
  legwise::reminder::RedisDeviceStore devices(redis_client);
  std::shared_ptr<grpc::Channel> content_channel;
  if (!content_addr.empty()) {
    content_channel = legwise::MakeClientChannel(content_addr, *content_credentials);
  }
  legwise::reminder::NudgeTextProvider texts(content_channel, content_deadline);
  feed.texts = &texts;
  legwise::reminder::FeedConsumer consumer(redis_client, &plans, &devices, sender->get(), feed);

  legwise::ServerRunner runner(server);
  runner.AddDependency(
      "redis", [&redis_client] { return redis_client->Ping(); }, /*required=*/true);
  runner.OnShutdown([&consumer] { consumer.Stop(); });

  std::thread loop([&consumer] { consumer.Run(); });
  legwise::LogInfo("push_started", {{"consumer", feed.consumer}});
  absl::Status run = runner.Run();
  consumer.Stop();
  loop.join();
  // In-flight pushes finish (their outcomes acknowledged); the rest stay pending.
  (*sender)->Shutdown(server.shutdown_grace);
  consumer.Drain();
  if (!run.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(run.message())}});
    return 1;
  }
  legwise::LogInfo("stopped");
  return 0;
}
