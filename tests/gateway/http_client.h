// A libcurl HTTP/1.1 client for the gateway tests: one easy handle per client, so a sequence of
// calls reuses one keep-alive connection as a browser would.
#ifndef LEGWISE_TESTS_GATEWAY_HTTP_CLIENT_H_
#define LEGWISE_TESTS_GATEWAY_HTTP_CLIENT_H_

#include <curl/curl.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace legwise::testing {

struct HttpAnswer {
  long status = 0;                             // 0 = transport failure
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(int port) : base_(absl::StrCat("http://127.0.0.1:", port)) {
    curl_ = curl_easy_init();
  }
  ~HttpClient() { curl_easy_cleanup(curl_); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `max_bytes` > 0 stops reading after that many body bytes (for streams); `timeout_ms` bounds
  // the whole call.
  HttpAnswer Call(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::vector<std::string>& headers = {}, long timeout_ms = 10000,
                  size_t max_bytes = 0) {
    HttpAnswer answer;
    Sink sink{&answer, max_bytes};
    curl_easy_reset(curl_);
    std::string url = base_ + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "HEAD") curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_slist* list = nullptr;
    for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &Sink::Write);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &Sink::HeaderLine);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &sink);
    CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(list);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &answer.status);
    if (rc != CURLE_OK && !(sink.stopped && rc == CURLE_WRITE_ERROR) &&
        !(rc == CURLE_OPERATION_TIMEDOUT && max_bytes > 0)) {
      answer.error = curl_easy_strerror(rc);
      if (answer.status == 0) answer.status = 0;
    }
    return answer;
  }

 private:
  struct Sink {
    HttpAnswer* answer;
    size_t max_bytes;
    bool stopped = false;
    static size_t Write(char* data, size_t size, size_t n, void* self) {
      auto* s = static_cast<Sink*>(self);
      s->answer->body.append(data, size * n);
      if (s->max_bytes > 0 && s->answer->body.size() >= s->max_bytes) {
        s->stopped = true;
        return 0;  // stop the transfer
      }
      return size * n;
    }
    static size_t HeaderLine(char* data, size_t size, size_t n, void* self) {
      auto* s = static_cast<Sink*>(self);
      std::string line(data, size * n);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = absl::AsciiStrToLower(line.substr(0, colon));
        std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
        s->answer->headers[name] = value;
      }
      return size * n;
    }
  };
  std::string base_;
  CURL* curl_;
};

}  // namespace legwise::testing

#endif  // LEGWISE_TESTS_GATEWAY_HTTP_CLIENT_H_
