#include "services/reminder/push/sender.h"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "services/common/logging.h"

namespace legwise::push {
namespace {

// What we keep of a response body: enough for any provider's error JSON.
constexpr size_t kMaxResponseBytes = 16 * 1024;

constexpr char kOutcomes[] = "legwise_push_outcomes_total";
constexpr char kRetries[] = "legwise_push_retries_total";
constexpr char kLatency[] = "legwise_push_delivery_latency_seconds";
constexpr char kCredentials[] = "legwise_push_credential_refreshes_total";
constexpr char kRefused[] = "legwise_push_submit_refusals_total";

struct Job {
  PushJob push;
  PushCallback done;
  Provider provider = Provider::kApns;
  std::string body;         // APNs payload or Web Push ciphertext: the same for every attempt
  ParsedEndpoint endpoint;  // Web Push
  int attempts = 0;
  long last_status = 0;
};

// One request on the wire: a job's attempt, or (job == nullptr) an FCM access token grant.
struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::unique_ptr<Job> job;
  std::string request_body;  // bodies made per attempt (FCM, the grant)
  std::string response;
  std::string retry_after;
  bool web_push = false;
  bool insecure_loopback = false;
  bool address_refused = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * count;
  t->response.append(data, std::min(len, kMaxResponseBytes - t->response.size()));
  return len;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view line(data, size * count);
  constexpr absl::string_view kName = "retry-after:";
  if (absl::StartsWithIgnoreCase(line, kName)) {
    t->retry_after =
        std::string(absl::StripAsciiWhitespace(line.substr(kName.size()).substr(0, 64)));
  }
  return size * count;
}

// Web Push connections only: the address actually connected to must be public (or 127.0.0.1 for
// an insecure loopback endpoint). Checked here, after resolution, so DNS rebinding cannot slip an
// internal address past the URL checks.
curl_socket_t OpenSocket(void* user, curlsocktype, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  bool allowed = t->insecure_loopback ? IsLoopback127001(&address->addr, address->addrlen)
                                      : IsPublicAddress(&address->addr, address->addrlen);
  if (!allowed) {
    t->address_refused = true;
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

bool IsLoopbackHttp(absl::string_view url) { return absl::StartsWith(url, "http://127.0.0.1:"); }

absl::Status CheckProviderEndpoint(absl::string_view flag, const std::string& url) {
  if (absl::StartsWith(url, "https://") || IsLoopbackHttp(url)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " must be https:// (or http://127.0.0.1:PORT for tests)"));
}

}  // namespace

struct PushSender::Loop {
  Loop(PushSender* owner, const SenderOptions& options) : owner(owner), options(options) {}

  void Run();
  void Start(std::unique_ptr<Job> job, absl::Time now);
  void Launch(std::unique_ptr<Transfer> t, const std::string& url,
              const std::vector<std::string>& headers, const std::string& body);
  void Complete(CURL* easy, CURLcode code, absl::Time now);
  void Settle(std::unique_ptr<Job> job, const Classification& c, absl::Time now);
  void Finish(std::unique_ptr<Job> job, Outcome outcome, absl::string_view reason, absl::Time now);
  void FetchFcmToken(absl::Time now);
  void OnFcmToken(CURLcode code, long status, const std::string& response, absl::Time now);
  void AbortAll(absl::Time now);
  CURL* TakeEasy();
  void Metric(const char* name, MetricLabels labels) { metrics->Increment(name, labels); }

  void Wake() {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd, &one, sizeof(one));
    (void)ignored;
  }
  // libcurl's socket interface: it names the sockets to watch and when to call it back, and we
  // run only the connections that have something to do (curl_multi_perform would walk every
  // transfer on every wakeup).
  static int OnSocket(CURL*, curl_socket_t fd, int what, void* user, void*);
  static int OnTimer(CURLM*, long timeout_ms, void* user);

  PushSender* owner;
  const SenderOptions& options;
  int max_in_flight = 1;  // this loop's share of options.max_in_flight
  Metrics* metrics = nullptr;
  CURLM* multi = nullptr;
  int epoll_fd = -1;
  int wake_fd = -1;
  absl::Time curl_timer = absl::InfiniteFuture();  // when libcurl wants to be called back
  std::thread thread;

  // Shared with Submit and Shutdown.
  absl::Mutex mu;
  std::vector<std::unique_ptr<Job>> inbox ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  absl::Time stop_deadline ABSL_GUARDED_BY(mu);
  std::atomic<bool> wake_pending{false};

  // The loop thread's alone.
  std::deque<std::unique_ptr<Job>> ready;
  std::multimap<absl::Time, std::unique_ptr<Job>> timers;  // retries, by due time
  std::vector<std::unique_ptr<Job>> fcm_waiting;           // for an access token
  bool fcm_fetching = false;
  absl::flat_hash_set<CURL*> active;
  std::vector<CURL*> spare;  // easy handles kept for reuse (their buffers and TLS session ids)
  curl_slist* resolve = nullptr;
  ApnsTokenCache* apns_tokens = nullptr;  // the sender's, shared by every loop
  std::optional<FcmAccessToken> fcm_token;
  std::optional<VapidSigner> vapid;
  absl::BitGen rng;
  LogSampler sampler{10};
};

absl::StatusOr<std::unique_ptr<PushSender>> PushSender::Create(SenderOptions options) {
  if (options.apns) {
    if (absl::Status s = CheckProviderEndpoint("--apns_endpoint", options.apns->endpoint);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            CheckProviderEndpoint("the APNs sandbox endpoint", options.apns->sandbox_endpoint);
        !s.ok()) {
      return s;
    }
    if (options.apns->topic.empty() || options.apns->topic.size() > 255) {
      return absl::InvalidArgumentError("--apns_topic (the app's bundle id) is required");
    }
  }
  if (options.fcm) {
    if (absl::Status s = CheckProviderEndpoint("--fcm_endpoint", options.fcm->endpoint); !s.ok()) {
      return s;
    }
  }
  if (options.max_in_flight < 1 || options.max_pending < 1 || options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError("push sender limits must be positive");
  }
  if (options.loop_threads < 1 || options.loop_threads > 64) {
    return absl::InvalidArgumentError("push_loop_threads must be 1 to 64");
  }
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (options.endpoint_policy.allow_insecure_loopback) {
    LogWarning("push_insecure_loopback_enabled",
               {{"detail", "http://127.0.0.1 Web Push endpoints accepted: development only"}});
  }

  std::unique_ptr<PushSender> sender(new PushSender(std::move(options)));
  const SenderOptions& o = sender->options_;
  Metrics* metrics = o.metrics != nullptr ? o.metrics : &Metrics::Default();
  metrics->Describe(kOutcomes, "counter",
                    "Pushes by provider and final outcome (delivered, unregistered, expired, "
                    "quiet_hours, rejected, aborted).");
  metrics->Describe(kRetries, "counter", "Push attempts to be retried, by provider and reason.");
  metrics->Describe(kLatency, "histogram",
                    "Seconds from a nudge's due time to the provider accepting its push.");
  metrics->Describe(kCredentials, "counter",
                    "Provider tokens made (APNs JWTs, FCM access tokens), by result.");
  metrics->Describe(kRefused, "counter", "Pushes refused at submission, by reason.");
  if (o.apns) {
    sender->apns_tokens_ =
        std::make_unique<ApnsTokenCache>(o.apns->credentials, o.apns->token_refresh);
  }
  const int loops = o.loop_threads;
  for (int i = 0; i < loops; ++i) {
    sender->loops_.push_back(std::make_unique<Loop>(sender.get(), o));
    Loop& loop = *sender->loops_.back();
    loop.metrics = metrics;
    loop.max_in_flight = std::max(1, (o.max_in_flight + loops - 1) / loops);
    loop.apns_tokens = sender->apns_tokens_.get();
    if (o.fcm) loop.fcm_token.emplace(o.fcm->credentials);
    if (o.vapid) loop.vapid.emplace(*o.vapid);

    loop.multi = curl_multi_init();
    loop.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop.multi == nullptr || loop.epoll_fd < 0 || loop.wake_fd < 0) {
      return absl::InternalError("cannot set up the push sender's event loop");
    }
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.fd = loop.wake_fd;
    epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, loop.wake_fd, &wake);
    curl_multi_setopt(loop.multi, CURLMOPT_SOCKETFUNCTION, &Loop::OnSocket);
    curl_multi_setopt(loop.multi, CURLMOPT_SOCKETDATA, &loop);
    curl_multi_setopt(loop.multi, CURLMOPT_TIMERFUNCTION, &Loop::OnTimer);
    curl_multi_setopt(loop.multi, CURLMOPT_TIMERDATA, &loop);
    curl_multi_setopt(loop.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(loop.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(o.max_connections_per_host));
    curl_multi_setopt(loop.multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
                      static_cast<long>(o.max_streams_per_connection));
    for (const std::string& entry : o.resolve)
      loop.resolve = curl_slist_append(loop.resolve, entry.c_str());
  }
  for (auto& loop : sender->loops_) {
    Loop* l = loop.get();
    l->thread = std::thread([l] { l->Run(); });
  }
  return sender;
}

PushSender::PushSender(SenderOptions options) : options_(std::move(options)) {}

PushSender::~PushSender() {
  Shutdown(absl::ZeroDuration());
  for (auto& loop : loops_) {
    for (CURL* e : loop->spare) curl_easy_cleanup(e);
    if (loop->multi != nullptr) curl_multi_cleanup(loop->multi);
    curl_slist_free_all(loop->resolve);
    if (loop->epoll_fd >= 0) ::close(loop->epoll_fd);
    if (loop->wake_fd >= 0) ::close(loop->wake_fd);
  }
}

absl::Status PushSender::Submit(PushJob job, PushCallback done) {
  auto refuse = [this](absl::Status status, absl::string_view reason) {
    loops_.front()->metrics->Increment(kRefused, {{"reason", std::string(reason)}});
    return status;
  };
  FieldViolations violations;
  ValidateDevice(Device{job.device_id, job.target, "", absl::UnixEpoch()}, options_.endpoint_policy,
                 "device", &violations);
  if (!violations.empty()) return refuse(violations.ToStatus("INVALID_DEVICE"), "invalid_device");
  if (absl::Status s = ValidateMessage(job.message); !s.ok()) return refuse(s, "invalid_message");

  auto j = std::make_unique<Job>();
  ProviderOf(job.target, &j->provider);
  bool configured = (j->provider == Provider::kApns && options_.apns) ||
                    (j->provider == Provider::kFcm && options_.fcm) ||
                    (j->provider == Provider::kWebPush && options_.vapid);
  if (!configured) {
    return refuse(absl::FailedPreconditionError(
                      absl::StrCat(ProviderName(j->provider), " push is not configured")),
                  "not_configured");
  }
  std::string payload = PayloadJson(job.message);
  switch (j->provider) {
    case Provider::kApns:
      j->body = ApnsPayload(job.message);
      if (j->body.size() > kMaxApnsPayload) {
        return refuse(absl::InvalidArgumentError("message: the APNs payload exceeds 4096 bytes"),
                      "too_large");
      }
      break;
    case Provider::kFcm:
      if (payload.size() > kMaxFcmPayload) {
        return refuse(absl::InvalidArgumentError("message: the FCM payload exceeds 4096 bytes"),
                      "too_large");
      }
      break;
    case Provider::kWebPush: {
      const auto& target = std::get<WebPushTarget>(job.target);
      j->endpoint = *ParseWebPushEndpoint(target.endpoint, options_.endpoint_policy);
      std::string ua_public, auth;
      Base64UrlDecode(target.p256dh, &ua_public);
      Base64UrlDecode(target.auth, &auth);
      absl::StatusOr<std::string> sealed = EncryptWebPush(payload, ua_public, auth);
      if (!sealed.ok()) return refuse(sealed.status(), "encryption");
      j->body = *std::move(sealed);
      break;
    }
  }
  if (pending_.fetch_add(1, std::memory_order_relaxed) >= options_.max_pending) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    return refuse(absl::ResourceExhaustedError("the push sender is full"), "full");
  }
  // One device's pushes always on the same loop (its connection, its order).
  Loop& loop = *loops_[std::hash<std::string>{}(job.device_id) % loops_.size()];
  j->push = std::move(job);
  j->done = std::move(done);
  {
    absl::MutexLock lock(&loop.mu);
    if (loop.stopping) {
      pending_.fetch_sub(1, std::memory_order_relaxed);
      return refuse(absl::UnavailableError("the push sender is shutting down"), "stopping");
    }
    loop.inbox.push_back(std::move(j));
  }
  if (!loop.wake_pending.exchange(true)) loop.Wake();
  return absl::OkStatus();
}

void PushSender::Shutdown(absl::Duration grace) {
  const absl::Time deadline = absl::Now() + grace;
  for (auto& loop : loops_) {
    {
      absl::MutexLock lock(&loop->mu);
      if (!loop->stopping) {
        loop->stopping = true;
        loop->stop_deadline = deadline;
      }
    }
    if (loop->wake_fd >= 0) loop->Wake();
  }
  for (auto& loop : loops_) {
    if (loop->thread.joinable()) loop->thread.join();
  }
}

void PushSender::Loop::Run() {
  while (true) {
    std::vector<std::unique_ptr<Job>> incoming;
    bool stop;
    absl::Time deadline;
    // Cleared before the inbox is taken: a job queued after this point finds it clear and wakes us.
    wake_pending.store(false);
    {
      absl::MutexLock lock(&mu);
      incoming.swap(inbox);
      stop = stopping;
      deadline = stop_deadline;
    }
    absl::Time now = options.clock();
    for (auto& j : incoming) ready.push_back(std::move(j));
    if (stop) {
      // Nothing new goes out; what is not on the wire is handed back at once.
      for (auto& j : ready) Finish(std::move(j), Outcome::kAborted, "shutdown", now);
      ready.clear();
      for (auto& [when, j] : timers) Finish(std::move(j), Outcome::kAborted, "shutdown", now);
      timers.clear();
      for (auto& j : fcm_waiting) Finish(std::move(j), Outcome::kAborted, "shutdown", now);
      fcm_waiting.clear();
      if (active.empty() || absl::Now() >= deadline) {
        AbortAll(now);
        return;
      }
    } else {
      while (!timers.empty() && timers.begin()->first <= now) {
        ready.push_back(std::move(timers.begin()->second));
        timers.erase(timers.begin());
      }
      while (!ready.empty() && static_cast<int>(active.size()) < max_in_flight) {
        std::unique_ptr<Job> j = std::move(ready.front());
        ready.pop_front();
        Start(std::move(j), now);
      }
    }
    // Sleep until a socket is ready, libcurl's timer or a retry is due, a job can start, or Submit
    // wakes us.
    absl::Duration wait = absl::Seconds(1);
    if (!ready.empty() && static_cast<int>(active.size()) < max_in_flight) {
      wait = absl::ZeroDuration();
    }
    absl::Time clock_now = options.clock();
    if (!timers.empty()) wait = std::min(wait, timers.begin()->first - clock_now);
    absl::Time real_now = absl::Now();
    wait = std::min(wait, curl_timer - real_now);
    if (stop) wait = std::min(wait, deadline - real_now);
    // Round up: waking a little early would spin until the deadline.
    int wait_ms = static_cast<int>(std::clamp<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))), 0, 1000));
    epoll_event events[64];
    int n = epoll_wait(epoll_fd, events, 64, wait_ms);
    int running = 0;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_fd) {
        uint64_t count;
        ssize_t ignored = ::read(wake_fd, &count, sizeof(count));
        (void)ignored;
        continue;
      }
      int flags = ((events[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                  ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                  ((events[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(multi, events[i].data.fd, flags, &running);
    }
    if (absl::Now() >= curl_timer) {
      curl_timer = absl::InfiniteFuture();
      curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) Complete(msg->easy_handle, msg->data.result, options.clock());
    }
  }
}

int PushSender::Loop::OnSocket(CURL*, curl_socket_t fd, int what, void* user, void*) {
  auto* loop = static_cast<Loop*>(user);
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    return 0;
  }
  epoll_event ev{};
  ev.data.fd = fd;
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0) {
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
  return 0;
}

int PushSender::Loop::OnTimer(CURLM*, long timeout_ms, void* user) {
  auto* loop = static_cast<Loop*>(user);
  loop->curl_timer =
      timeout_ms < 0 ? absl::InfiniteFuture() : absl::Now() + absl::Milliseconds(timeout_ms);
  return 0;
}

void PushSender::Loop::Start(std::unique_ptr<Job> job, absl::Time now) {
  bool quiet = false;
  if (PastUsefulness(job->push.message, now, &quiet)) {
    Finish(std::move(job), quiet ? Outcome::kQuietHours : Outcome::kExpired,
           quiet ? "quiet_hours" : "ttl", now);
    return;
  }
  auto t = std::make_unique<Transfer>();
  std::string url;
  std::vector<std::string> headers;
  const std::string* body = &job->body;
  const PushMessage& message = job->push.message;
  switch (job->provider) {
    case Provider::kApns: {
      bool minted = false;
      absl::StatusOr<std::string> token = apns_tokens->Get(now, &minted);
      if (!token.ok()) {
        Finish(std::move(job), Outcome::kRejected, "provider_token", now);
        return;
      }
      if (minted) Metric(kCredentials, {{"provider", "apns"}, {"result", "ok"}});
      const auto& target = std::get<ApnsTarget>(job->push.target);
      url =
          ApnsUrl(target.sandbox ? options.apns->sandbox_endpoint : options.apns->endpoint, target);
      headers = ApnsHeaders(message, options.apns->topic, *token);
      break;
    }
    case Provider::kFcm: {
      std::string access = fcm_token->Current(now);
      if (access.empty()) {
        fcm_waiting.push_back(std::move(job));
        FetchFcmToken(now);
        return;
      }
      url = FcmUrl(options.fcm->endpoint, fcm_token->credentials().project_id);
      headers = FcmHeaders(access);
      t->request_body = FcmBody(std::get<FcmTarget>(job->push.target), message, now);
      body = &t->request_body;
      break;
    }
    case Provider::kWebPush: {
      absl::StatusOr<std::string> authorization = vapid->Authorization(job->endpoint.origin(), now);
      if (!authorization.ok()) {
        Finish(std::move(job), Outcome::kRejected, "vapid", now);
        return;
      }
      url = job->endpoint.url;
      headers = WebPushHeaders(message, *authorization, now);
      t->web_push = true;
      t->insecure_loopback = job->endpoint.insecure_loopback;
      break;
    }
  }
  t->job = std::move(job);
  Launch(std::move(t), url, headers, *body);
}

CURL* PushSender::Loop::TakeEasy() {
  if (spare.empty()) return curl_easy_init();
  CURL* e = spare.back();
  spare.pop_back();
  curl_easy_reset(e);
  return e;
}

void PushSender::Loop::Launch(std::unique_ptr<Transfer> t, const std::string& url,
                              const std::vector<std::string>& headers, const std::string& body) {
  CURL* e = TakeEasy();
  for (const std::string& h : headers) t->headers = curl_slist_append(t->headers, h.c_str());
  t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip
  bool cleartext = IsLoopbackHttp(url);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, cleartext ? "http" : "https");
  // HTTP/2 over TLS (ALPN); the loopback test endpoints speak HTTP/2 cleartext.
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                   cleartext ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);  // wait to multiplex rather than open a connection
  if (cleartext) {
    // Debian's libcurl 7.88 cannot reuse a prior-knowledge HTTP/2 cleartext connection (the second
    // request on it fails with CURLE_HTTP2, "Error in the HTTP2 framing layer"), so each loopback
    // test/development request gets its own. Production endpoints are https and multiplexed.
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  }
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.request_timeout)));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.connect_timeout)));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect is an answer, never followed
  curl_easy_setopt(e, CURLOPT_PROXY, "");           // no proxy from the environment
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
  if (resolve != nullptr) curl_easy_setopt(e, CURLOPT_RESOLVE, resolve);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  if (t->web_push) {
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
  }
  t->easy = e;
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.release());
  curl_multi_add_handle(multi, e);
  active.insert(e);
}

void PushSender::Loop::Complete(CURL* easy, CURLcode code, absl::Time now) {
  char* priv = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
  std::unique_ptr<Transfer> t(reinterpret_cast<Transfer*>(priv));
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(multi, easy);
  active.erase(easy);
  curl_slist_free_all(t->headers);
  spare.push_back(easy);
  if (t->job == nullptr) {
    OnFcmToken(code, status, t->response, now);
    return;
  }
  std::unique_ptr<Job> job = std::move(t->job);
  ++job->attempts;
  job->last_status = code == CURLE_OK ? status : 0;
  Classification c;
  if (code != CURLE_OK) {
    c = ClassifyTransportFailure(code == CURLE_OPERATION_TIMEDOUT, t->address_refused);
  } else if (job->provider == Provider::kApns) {
    c = ClassifyApns(status, t->response, t->retry_after, now);
  } else if (job->provider == Provider::kFcm) {
    c = ClassifyFcm(status, t->response, t->retry_after, now);
  } else {
    c = ClassifyWebPush(status, t->retry_after, now);
  }
  if (c.refresh_credentials) {
    if (job->provider == Provider::kApns) apns_tokens->Invalidate(now);
    if (job->provider == Provider::kFcm) fcm_token->Invalidate();
  }
  Settle(std::move(job), c, now);
}

void PushSender::Loop::Settle(std::unique_ptr<Job> job, const Classification& c, absl::Time now) {
  if (c.outcome != Outcome::kRetry) {
    Finish(std::move(job), c.outcome, c.reason, now);
    return;
  }
  Metric(kRetries, {{"provider", std::string(ProviderName(job->provider))}, {"reason", c.reason}});
  if (job->attempts >= options.retry.max_attempts) {
    Finish(std::move(job), Outcome::kRejected, "retries_exhausted", now);
    return;
  }
  absl::Duration wait = Backoff(options.retry, job->attempts, c.retry_after, rng);
  bool quiet = false;
  if (PastUsefulness(job->push.message, now + wait, &quiet)) {
    // The next try could only land too late: drop it now rather than send it late.
    Finish(std::move(job), quiet ? Outcome::kQuietHours : Outcome::kExpired,
           quiet ? "quiet_hours" : "ttl", now);
    return;
  }
  timers.emplace(now + wait, std::move(job));
}

void PushSender::Loop::Finish(std::unique_ptr<Job> job, Outcome outcome, absl::string_view reason,
                              absl::Time now) {
  std::string provider(ProviderName(job->provider));
  Metric(kOutcomes, {{"provider", provider}, {"outcome", std::string(OutcomeName(outcome))}});
  if (outcome == Outcome::kDelivered) {
    metrics->Observe(kLatency, {{"provider", provider}},
                     std::max(0.0, absl::ToDoubleSeconds(now - job->push.message.due_time)));
  } else if (outcome != Outcome::kAborted) {
    int64_t suppressed = 0;
    if (sampler.Sample(absl::StrCat(provider, OutcomeName(outcome)), absl::Now(), &suppressed)) {
      // Provider, outcome and a fixed-vocabulary reason only: no token, endpoint or nudge.
      LogInfo("push_not_delivered", {{"provider", provider},
                                     {"outcome", std::string(OutcomeName(outcome))},
                                     {"reason", std::string(reason)},
                                     {"http_status", job->last_status},
                                     {"attempts", job->attempts},
                                     {"suppressed_since_last", suppressed}});
    }
  }
  PushResult result{outcome, std::string(reason), job->attempts, job->last_status};
  owner->pending_.fetch_sub(1, std::memory_order_relaxed);
  if (job->done) job->done(result);
}

void PushSender::Loop::FetchFcmToken(absl::Time now) {
  if (fcm_fetching) return;
  absl::StatusOr<std::string> body = fcm_token->GrantRequestBody(now);
  if (!body.ok()) {
    std::vector<std::unique_ptr<Job>> waiting = std::move(fcm_waiting);
    fcm_waiting.clear();
    for (auto& j : waiting) Finish(std::move(j), Outcome::kRejected, "oauth_assertion", now);
    return;
  }
  auto t = std::make_unique<Transfer>();
  t->request_body = *std::move(body);
  const std::string& request_body = t->request_body;  // lives as long as the transfer
  fcm_fetching = true;
  Launch(std::move(t), fcm_token->credentials().token_uri,
         {"content-type: application/x-www-form-urlencoded"}, request_body);
}

void PushSender::Loop::OnFcmToken(CURLcode code, long status, const std::string& response,
                                  absl::Time now) {
  fcm_fetching = false;
  absl::Status accepted = code != CURLE_OK ? absl::UnavailableError("no answer")
                          : status != 200  ? absl::UnavailableError("refused")
                                           : fcm_token->AcceptGrantResponse(response, now);
  Metric(kCredentials, {{"provider", "fcm"}, {"result", accepted.ok() ? "ok" : "failed"}});
  std::vector<std::unique_ptr<Job>> waiting = std::move(fcm_waiting);
  fcm_waiting.clear();
  if (accepted.ok()) {
    for (auto& j : waiting) ready.push_back(std::move(j));
    return;
  }
  int64_t suppressed = 0;
  if (sampler.Sample("fcm_token", absl::Now(), &suppressed)) {
    LogWarning("fcm_access_token_failed", {{"http_status", code == CURLE_OK ? status : 0},
                                           {"curl_code", static_cast<int>(code)},
                                           {"suppressed_since_last", suppressed}});
  }
  Classification retry;
  retry.outcome = Outcome::kRetry;
  retry.reason = "oauth_failed";
  for (auto& j : waiting) {
    ++j->attempts;
    Settle(std::move(j), retry, now);
  }
}

void PushSender::Loop::AbortAll(absl::Time now) {
  for (CURL* e : std::vector<CURL*>(active.begin(), active.end())) {
    char* priv = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
    std::unique_ptr<Transfer> t(reinterpret_cast<Transfer*>(priv));
    curl_multi_remove_handle(multi, e);
    curl_slist_free_all(t->headers);
    spare.push_back(e);
    if (t->job != nullptr) Finish(std::move(t->job), Outcome::kAborted, "shutdown", now);
  }
  active.clear();
  fcm_fetching = false;
}

}  // namespace legwise::push
