#include "services/gateway/http_server.h"

#include <civetweb.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/logging.h"

namespace legwise::gateway {

void AddHttpServerFlags(FlagSet* flags, HttpServerOptions* o) {
  flags->AddInt("http_max_connections", &o->max_connections,
                "HTTP connections served at once (worker threads); SSE streams count.", 2, 4096);
  flags->AddInt("http_accept_queue", &o->accept_queue,
                "Accepted HTTP connections waiting for a worker.", 1, 65536);
  flags->AddInt("http_max_header_bytes", &o->max_header_bytes,
                "Largest request line plus headers; larger is refused (431/413).", 1024,
                1024 * 1024);
  flags->AddInt("http_max_body_bytes", &o->max_body_bytes,
                "Largest request body; larger is refused (413) before it is read.", 1024,
                16 * 1024 * 1024);
  flags->AddDuration("http_request_timeout", &o->request_timeout,
                     "Longest time to read one request and write its answer (not SSE).");
  flags->AddDuration("http_keep_alive_timeout", &o->keep_alive_timeout,
                     "Idle keep-alive connections are closed after this.");
}

HttpRequest::HttpRequest(mg_connection* conn, int max_body_bytes)
    : conn_(conn), max_body_bytes_(max_body_bytes) {
  const mg_request_info* info = mg_get_request_info(conn);
  method_ = info->request_method ? info->request_method : "";
  // decode_url=no: local_uri_raw is the path as sent; segments are decoded one by one later, so
  // an escaped '/' inside a path variable stays inside it.
  raw_path_ =
      info->local_uri_raw ? info->local_uri_raw : (info->request_uri ? info->request_uri : "");
  if (size_t q = raw_path_.find('?'); q != std::string::npos) raw_path_.resize(q);
  raw_query_ = info->query_string ? info->query_string : "";
  remote_addr_ = info->remote_addr;
  content_length_ = info->content_length;
}

absl::optional<std::string> HttpRequest::Header(const char* name) const {
  const char* v = mg_get_header(conn_, name);
  if (v == nullptr) return absl::nullopt;
  return std::string(v);
}

absl::Status HttpRequest::ReadBody(std::string* body) {
  body->clear();
  if (content_length_ > max_body_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request body larger than ", max_body_bytes_, " bytes"));
  }
  char buf[8192];
  while (true) {
    int n = mg_read(conn_, buf, sizeof(buf));
    if (n < 0) return absl::InvalidArgumentError("request body ended early");
    if (n == 0) break;
    if (body->size() + static_cast<size_t>(n) > static_cast<size_t>(max_body_bytes_)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("request body larger than ", max_body_bytes_, " bytes"));
    }
    body->append(buf, n);
  }
  if (content_length_ >= 0 && static_cast<long long>(body->size()) != content_length_) {
    return absl::InvalidArgumentError("request body shorter than its Content-Length");
  }
  return absl::OkStatus();
}

void HttpWriter::Send(const HttpResponse& r) {
  // Status line, headers and body in one write: written apart, the body waited for the client's
  // ACK of the headers (Nagle / delayed ACK), about 2 ms per keep-alive call.
  const char* reason = mg_get_response_code_text(conn_, r.status);
  std::string out = absl::StrCat("HTTP/1.1 ", r.status, " ", reason ? reason : "", "\r\n");
  for (const auto& [k, v] : r.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
  absl::StrAppend(&out, "Content-Length: ", r.body.size(), "\r\n\r\n", r.body);
  mg_write(conn_, out.data(), out.size());
}

bool HttpWriter::StartStream(int status,
                             const std::vector<std::pair<std::string, std::string>>& headers) {
  mg_response_header_start(conn_, status);
  for (const auto& [k, v] : headers) {
    mg_response_header_add(conn_, k.c_str(), v.c_str(), static_cast<int>(v.size()));
  }
  mg_response_header_add(conn_, "Connection", "close", -1);
  return mg_response_header_send(conn_) == 0;
}

bool HttpWriter::Write(absl::string_view data) {
  return mg_write(conn_, data.data(), data.size()) == static_cast<int>(data.size());
}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::Dispatch(mg_connection* conn, void* self_ptr) {
  auto* self = static_cast<HttpServer*>(self_ptr);
  self->in_flight_.fetch_add(1);
  HttpRequest request(conn, self->options_.max_body_bytes);
  HttpWriter writer(conn);
  self->handler_(request, writer);
  self->in_flight_.fetch_sub(1);
  return 1;  // handled; civetweb keeps the connection alive when the answer allows it
}

namespace {
// civetweb's own log lines (bad request lines, oversized headers) go to our JSON log, sampled by
// the logger; they never hold a body.
int LogMessage(const mg_connection*, const char* message) {
  LogWarning("http_server_message", {{"message", std::string(message).substr(0, 200)}});
  return 1;
}
}  // namespace

absl::Status HttpServer::Start() {
  mg_init_library(0);
  std::string host = options_.listen_host;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  std::string ports = absl::StrCat(host, ":", options_.port);
  std::string threads = absl::StrCat(options_.max_connections);
  std::string queue = absl::StrCat(options_.accept_queue);
  std::string max_request = absl::StrCat(options_.max_header_bytes);
  std::string request_ms = absl::StrCat(absl::ToInt64Milliseconds(options_.request_timeout));
  std::string keep_alive_ms = absl::StrCat(absl::ToInt64Milliseconds(options_.keep_alive_timeout));
  const char* opts[] = {"listening_ports", ports.c_str(), "num_threads", threads.c_str(),
                        "connection_queue", queue.c_str(), "max_request_size", max_request.c_str(),
                        "request_timeout_ms", request_ms.c_str(), "keep_alive_timeout_ms",
                        keep_alive_ms.c_str(), "enable_keep_alive", "yes", "tcp_nodelay", "1",
                        "decode_url", "no", "decode_query_string", "no", "linger_timeout_ms", "0",
                        // CORS is ours (--cors_allowed_origins): civetweb must neither answer
                        // preflights nor add Access-Control-* headers of its own.
                        "access_control_allow_origin", "", "access_control_allow_methods", "",
                        "access_control_allow_headers", "", nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = &LogMessage;
  ctx_ = mg_start(&callbacks, this, opts);
  if (ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on HTTP ", ports));
  }
  mg_set_request_handler(ctx_, "/", &HttpServer::Dispatch, this);
  mg_server_port sp[4];
  int n = mg_get_server_ports(ctx_, 4, sp);
  if (n < 1) return absl::InternalError("HTTP server has no port");
  port_ = sp[0].port;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (ctx_ != nullptr) {
    mg_stop(ctx_);  // joins the workers: handlers in progress finish first
    ctx_ = nullptr;
  }
}

bool PercentDecode(absl::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size() || !absl::ascii_isxdigit(in[i + 1]) ||
          !absl::ascii_isxdigit(in[i + 2])) {
        return false;
      }
      char hi = in[i + 1], lo = in[i + 2];
      auto val = [](char h) { return h <= '9' ? h - '0' : (absl::ascii_tolower(h) - 'a' + 10); };
      out->push_back(static_cast<char>(val(hi) * 16 + val(lo)));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

absl::Status ParseQuery(absl::string_view query,
                        std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  if (query.empty()) return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(query, '&')) {
    if (part.empty()) continue;
    absl::string_view k = part, v;
    if (size_t eq = part.find('='); eq != absl::string_view::npos) {
      k = part.substr(0, eq);
      v = part.substr(eq + 1);
    }
    std::string dk, dv;
    if (!PercentDecode(k, true, &dk) || !PercentDecode(v, true, &dv)) {
      return absl::InvalidArgumentError("query string: malformed percent escape");
    }
    out->emplace_back(std::move(dk), std::move(dv));
  }
  return absl::OkStatus();
}

}  // namespace legwise::gateway
