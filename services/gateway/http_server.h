// A bounded HTTP/1.1 server on civetweb (Debian's libcivetweb): a fixed pool of worker threads (one
// per connection being served, so connections in service are bounded by --http_max_connections and
// further ones wait in a bounded accept queue), bounded request headers (--http_max_header_bytes),
// bounded bodies (read by the handler, refused past --http_max_body_bytes before being read),
// request and keep-alive timeouts. No files are served: every request goes to one handler.
#ifndef LEGWISE_SERVICES_GATEWAY_HTTP_SERVER_H_
#define LEGWISE_SERVICES_GATEWAY_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "services/common/config.h"

struct mg_context;
struct mg_connection;

namespace legwise::gateway {

struct HttpServerOptions {
  std::string listen_host = "127.0.0.1";
  int port = 8080;
  // Connections served at once (civetweb worker threads, one per open connection, idle keep-alive
  // ones included); more wait in the accept queue.
  int max_connections = 128;
  // Accepted connections waiting for a worker; past it new connections wait in the kernel backlog.
  int accept_queue = 64;
  // Request line plus headers.
  int max_header_bytes = 16 * 1024;
  // Request body.
  int max_body_bytes = 64 * 1024;
  // Reading one request (headers and body) and writing its answer.
  absl::Duration request_timeout = absl::Seconds(10);
  // An idle keep-alive connection is closed after this. Short, because an idle connection holds a
  // worker: a browser keeps up to six open, and idle ones must not starve new callers.
  absl::Duration keep_alive_timeout = absl::Seconds(5);
};

// --http_max_connections, --http_accept_queue, --http_max_header_bytes, --http_max_body_bytes,
// --http_request_timeout, --http_keep_alive_timeout (the port is the caller's --port).
void AddHttpServerFlags(FlagSet* flags, HttpServerOptions* options);

// One request as the handler sees it.
class HttpRequest {
 public:
  HttpRequest(mg_connection* conn, int max_body_bytes);
  const std::string& method() const { return method_; }
  // The path as sent (percent-encoded), without the query.
  const std::string& raw_path() const { return raw_path_; }
  // The query string as sent, without '?'.
  const std::string& raw_query() const { return raw_query_; }
  const std::string& remote_addr() const { return remote_addr_; }
  // A request header (case-insensitive name); nullopt when absent.
  absl::optional<std::string> Header(const char* name) const;
  // Reads the whole body: RESOURCE_EXHAUSTED past the limit (checked against Content-Length before
  // anything is read), INVALID_ARGUMENT when the body ends early.
  absl::Status ReadBody(std::string* body);

 private:
  mg_connection* conn_;
  int max_body_bytes_;
  std::string method_, raw_path_, raw_query_, remote_addr_;
  long long content_length_ = -1;
};

// A response: status, headers, body. `Send` writes it with Content-Length (keep-alive works).
struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Writes an answer on the connection. Used by the server and by streaming handlers.
class HttpWriter {
 public:
  explicit HttpWriter(mg_connection* conn) : conn_(conn) {}
  // A complete answer with Content-Length.
  void Send(const HttpResponse& response);
  // Starts a streamed answer (no Content-Length; the connection closes at the end). False when the
  // client is gone.
  bool StartStream(int status, const std::vector<std::pair<std::string, std::string>>& headers);
  // Writes a chunk of a streamed answer; false when the client is gone.
  bool Write(absl::string_view data);

 private:
  mg_connection* conn_;
};

class HttpServer {
 public:
  // The handler answers through the writer (exactly once) and returns.
  using Handler = std::function<void(HttpRequest&, HttpWriter&)>;
  HttpServer(HttpServerOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  absl::Status Start();
  // The bound port (after Start).
  int port() const { return port_; }
  // Stops accepting, waits for the handlers in progress to return, closes everything.
  void Stop();
  // Handlers running now.
  int in_flight() const { return in_flight_.load(); }

 private:
  static int Dispatch(mg_connection* conn, void* self);
  HttpServerOptions options_;
  Handler handler_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::atomic<int> in_flight_{0};
};

// Decodes %XX escapes (and '+' as space when `plus_is_space`); false on a malformed escape.
bool PercentDecode(absl::string_view in, bool plus_is_space, std::string* out);

// Splits "a=1&b=2" into decoded pairs, in order; INVALID_ARGUMENT on a malformed escape.
absl::Status ParseQuery(absl::string_view query,
                        std::vector<std::pair<std::string, std::string>>* out);

}  // namespace legwise::gateway

#endif  // LEGWISE_SERVICES_GATEWAY_HTTP_SERVER_H_
