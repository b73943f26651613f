#include "services/gateway/transcoder.h"

#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "google/api/annotations.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/type.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "services/gateway/http_server.h"

namespace legwise::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

const FieldDescriptor* FindField(const Descriptor* d, absl::string_view name) {
  if (const FieldDescriptor* f = d->FindFieldByName(std::string(name))) return f;
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->json_name() == name) return d->field(i);
  }
  return nullptr;
}

absl::Status ParseTemplate(absl::string_view text, Route* route) {
  if (text.empty() || text[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("template must start with '/': ", text));
  }
  absl::string_view rest = text.substr(1);
  // A custom verb follows the last ':' after the last '}' or '/'.
  size_t last_close = rest.rfind('}');
  size_t last_slash = rest.rfind('/');
  size_t from = last_close == absl::string_view::npos ? 0 : last_close;
  if (last_slash != absl::string_view::npos &&
      (last_close == absl::string_view::npos || last_slash > last_close)) {
    from = last_slash;
  }
  if (size_t colon = rest.find(':', from); colon != absl::string_view::npos) {
    route->verb = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
  }
  for (absl::string_view seg : absl::StrSplit(rest, '/')) {
    Route::Segment s;
    if (!seg.empty() && seg.front() == '{') {
      if (seg.back() != '}') return absl::InvalidArgumentError(absl::StrCat("bad segment ", seg));
      absl::string_view var = seg.substr(1, seg.size() - 2);
      if (size_t eq = var.find('='); eq != absl::string_view::npos) {
        if (var.substr(eq + 1) != "*") {
          return absl::InvalidArgumentError(absl::StrCat("unsupported variable pattern ", seg));
        }
        var = var.substr(0, eq);
      }
      s.is_variable = true;
      s.text = std::string(var);
    } else {
      if (seg.empty() || seg.find_first_of("{}*") != absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("unsupported segment '", seg, "'"));
      }
      s.text = std::string(seg);
    }
    route->segments.push_back(std::move(s));
  }
  return absl::OkStatus();
}

// Resolves a dotted field path to the message that holds the last field, creating sub-messages.
absl::StatusOr<std::pair<Message*, const FieldDescriptor*>> Resolve(Message* message,
                                                                    absl::string_view path) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  Message* m = message;
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* f = FindField(m->GetDescriptor(), parts[i]);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown field '", path, "'"));
    }
    if (i + 1 == parts.size()) return std::make_pair(m, f);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) {
      return absl::InvalidArgumentError(absl::StrCat("field '", path, "' is not a message path"));
    }
    m = m->GetReflection()->MutableMessage(m, f);
  }
  return absl::InvalidArgumentError("empty field path");
}

constexpr absl::string_view kTypeUrlPrefix = "type.googleapis.com";

// The generated pool's TypeResolver with a cache: types are converted once per process, then
// copied out under a reader lock. Bounded by the number of types linked into the binary.
class CachingTypeResolver : public google::protobuf::util::TypeResolver {
 public:
  CachingTypeResolver()
      : base_(google::protobuf::util::NewTypeResolverForDescriptorPool(
            std::string(kTypeUrlPrefix), google::protobuf::DescriptorPool::generated_pool())) {}

  google::protobuf::util::Status ResolveMessageType(const std::string& type_url,
                                                    google::protobuf::Type* type) override {
    return Resolve(type_url, type, &types_);
  }
  google::protobuf::util::Status ResolveEnumType(const std::string& type_url,
                                                 google::protobuf::Enum* enum_type) override {
    return Resolve(type_url, enum_type, &enums_);
  }

 private:
  template <typename T>
  google::protobuf::util::Status Resolve(const std::string& type_url, T* out,
                                         absl::flat_hash_map<std::string, T>* cache) {
    {
      absl::ReaderMutexLock lock(&mu_);
      if (auto it = cache->find(type_url); it != cache->end()) {
        *out = it->second;
        return google::protobuf::util::Status();
      }
    }
    google::protobuf::util::Status s;
    if constexpr (std::is_same_v<T, google::protobuf::Type>) {
      s = base_->ResolveMessageType(type_url, out);
    } else {
      s = base_->ResolveEnumType(type_url, out);
    }
    if (s.ok()) {
      absl::MutexLock lock(&mu_);
      cache->try_emplace(type_url, *out);
    }
    return s;
  }
  std::unique_ptr<google::protobuf::util::TypeResolver> base_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, google::protobuf::Type> types_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, google::protobuf::Enum> enums_ ABSL_GUARDED_BY(mu_);
};

google::protobuf::util::TypeResolver* Resolver() {
  static auto* resolver = new CachingTypeResolver();
  return resolver;
}

std::string TypeUrl(const Descriptor* type) {
  return absl::StrCat(kTypeUrlPrefix, "/", type->full_name());
}

// Parses JSON into `message` through the cached resolver (JsonStringToMessage's steps).
absl::Status JsonToMessage(absl::string_view json, Message* message) {
  std::string binary;
  if (absl::Status s = JsonToBinary(message->GetDescriptor(), json, &binary); !s.ok()) return s;
  if (!message->ParseFromString(binary)) {
    return absl::InvalidArgumentError("JSON transcoder produced invalid protobuf output.");
  }
  return absl::OkStatus();
}

absl::Status BadValue(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("field '", path, "': ", what));
}

}  // namespace

absl::StatusOr<std::vector<Route>> RoutesFromServices(const std::vector<std::string>& services) {
  std::vector<Route> routes;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) return absl::NotFoundError(absl::StrCat("no service ", name));
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      if (!method->options().HasExtension(google::api::http)) {
        return absl::FailedPreconditionError(
            absl::StrCat(method->full_name(), " has no google.api.http annotation"));
      }
      const google::api::HttpRule& rule = method->options().GetExtension(google::api::http);
      Route route;
      std::string path;
      switch (rule.pattern_case()) {
        case google::api::HttpRule::kGet:
          route.http_method = "GET";
          path = rule.get();
          break;
        case google::api::HttpRule::kPost:
          route.http_method = "POST";
          path = rule.post();
          break;
        case google::api::HttpRule::kPut:
          route.http_method = "PUT";
          path = rule.put();
          break;
        case google::api::HttpRule::kDelete:
          route.http_method = "DELETE";
          path = rule.delete_();
          break;
        case google::api::HttpRule::kPatch:
          route.http_method = "PATCH";
          path = rule.patch();
          break;
        default:
          return absl::FailedPreconditionError(
              absl::StrCat(method->full_name(), ": unsupported http pattern"));
      }
      route.path_template = path;
      route.body = rule.body();
      route.method = method;
      route.grpc_path = absl::StrCat("/", service->full_name(), "/", method->name());
      if (absl::Status s = ParseTemplate(path, &route); !s.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(method->full_name(), ": ", s.message()));
      }
      // Every variable and the body field must name a real field.
      std::unique_ptr<Message> probe(google::protobuf::MessageFactory::generated_factory()
                                         ->GetPrototype(method->input_type())
                                         ->New());
      for (const Route::Segment& seg : route.segments) {
        if (!seg.is_variable) continue;
        auto r = Resolve(probe.get(), seg.text);
        if (!r.ok()) {
          return absl::FailedPreconditionError(
              absl::StrCat(method->full_name(), ": ", r.status().message()));
        }
      }
      if (!route.body.empty() && route.body != "*" &&
          method->input_type()->FindFieldByName(route.body) == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat(method->full_name(), ": body field ", route.body, " does not exist"));
      }
      routes.push_back(std::move(route));
    }
  }
  return routes;
}

const Route* MatchRoute(const std::vector<Route>& routes, absl::string_view http_method,
                        absl::string_view raw_path,
                        std::vector<std::pair<std::string, std::string>>* variables,
                        bool* method_mismatch) {
  *method_mismatch = false;
  if (raw_path.empty() || raw_path[0] != '/') return nullptr;
  std::vector<absl::string_view> parts = absl::StrSplit(raw_path.substr(1), '/');
  for (const Route& route : routes) {
    if (parts.size() != route.segments.size()) continue;
    std::vector<std::pair<std::string, std::string>> vars;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      absl::string_view part = parts[i];
      if (i + 1 == parts.size()) {
        if (route.verb.empty()) {
          // A verb-less route never matches a last segment that carries a verb of its own.
          if (!route.segments[i].is_variable && part.find(':') != absl::string_view::npos) {
            ok = false;
            break;
          }
        } else {
          std::string suffix = absl::StrCat(":", route.verb);
          if (!absl::EndsWith(part, suffix)) {
            ok = false;
            break;
          }
          part.remove_suffix(suffix.size());
        }
      }
      const Route::Segment& seg = route.segments[i];
      if (seg.is_variable) {
        std::string decoded;
        if (part.empty() || !PercentDecode(part, false, &decoded)) {
          ok = false;
          break;
        }
        vars.emplace_back(seg.text, std::move(decoded));
      } else if (part != seg.text) {
        ok = false;
      }
    }
    if (!ok) continue;
    if (route.http_method != http_method) {
      *method_mismatch = true;
      continue;
    }
    *variables = std::move(vars);
    return &route;
  }
  return nullptr;
}

absl::Status SetFieldFromText(Message* message, absl::string_view path, absl::string_view value) {
  absl::StatusOr<std::pair<Message*, const FieldDescriptor*>> r = Resolve(message, path);
  if (!r.ok()) return r.status();
  Message* m = r->first;
  const FieldDescriptor* f = r->second;
  const Reflection* refl = m->GetReflection();
  const bool rep = f->is_repeated();
  if (f->is_map()) return BadValue(path, "maps cannot be set from a parameter");
  if (!rep && refl->HasField(*m, f) && f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return BadValue(path, "given more than once");
  }
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string v(value);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        return BadValue(path, "bytes cannot be set from a parameter");
      }
      rep ? refl->AddString(m, f, v) : refl->SetString(m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v)) return BadValue(path, "must be a 32-bit integer");
      rep ? refl->AddInt32(m, f, v) : refl->SetInt32(m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) return BadValue(path, "must be an integer");
      rep ? refl->AddInt64(m, f, v) : refl->SetInt64(m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(value, &v)) return BadValue(path, "must be an unsigned integer");
      rep ? refl->AddUInt32(m, f, v) : refl->SetUInt32(m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(value, &v)) return BadValue(path, "must be an unsigned integer");
      rep ? refl->AddUInt64(m, f, v) : refl->SetUInt64(m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (value == "true") {
        v = true;
      } else if (value == "false") {
        v = false;
      } else {
        return BadValue(path, "must be true or false");
      }
      rep ? refl->AddBool(m, f, v) : refl->SetBool(m, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(value, &v) || !std::isfinite(v)) {
        return BadValue(path, "must be a finite number");
      }
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        rep ? refl->AddFloat(m, f, static_cast<float>(v))
            : refl->SetFloat(m, f, static_cast<float>(v));
      } else {
        rep ? refl->AddDouble(m, f, v) : refl->SetDouble(m, f, v);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const google::protobuf::EnumValueDescriptor* ev =
          f->enum_type()->FindValueByName(std::string(value));
      int number;
      if (ev == nullptr && absl::SimpleAtoi(value, &number)) {
        ev = f->enum_type()->FindValueByNumber(number);
      }
      if (ev == nullptr) {
        return BadValue(path, absl::StrCat("not a value of ", f->enum_type()->full_name()));
      }
      rep ? refl->AddEnum(m, f, ev) : refl->SetEnum(m, f, ev);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      // Well-known types with a JSON string form (Timestamp, Duration, FieldMask, wrappers):
      // protobuf's own JSON parser reads the value as a JSON string.
      if (rep) return BadValue(path, "repeated messages cannot be set from a parameter");
      google::protobuf::Value as_string;
      as_string.set_string_value(std::string(value));
      std::string json;
      if (!google::protobuf::util::MessageToJsonString(as_string, &json).ok()) {
        return BadValue(path, "cannot be read");
      }
      Message* sub = refl->MutableMessage(m, f);
      sub->Clear();
      auto s = google::protobuf::util::JsonStringToMessage(json, sub);
      if (!s.ok()) return BadValue(path, "not a valid value for its type");
      return absl::OkStatus();
    }
  }
  return BadValue(path, "unsupported type");
}

absl::Status BuildRequest(const Route& route, absl::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& variables,
                          const std::vector<std::pair<std::string, std::string>>& query,
                          Message* request) {
  if (route.body.empty()) {
    if (!body.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(route.http_method, " ", route.path_template, " takes no request body"));
    }
  } else {
    if (body.empty()) body = "{}";
    Message* target = request;
    if (route.body != "*") {
      const FieldDescriptor* f = request->GetDescriptor()->FindFieldByName(route.body);
      target = request->GetReflection()->MutableMessage(request, f);
    }
    if (absl::Status s = JsonToMessage(body, target); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("request body: ", s.message()));
    }
  }
  for (const auto& [path, value] : variables) {
    // A path variable wins, but a body that says otherwise is a contradiction, not a default.
    auto r = Resolve(request, path);
    if (!r.ok()) return r.status();
    const Reflection* refl = r->first->GetReflection();
    if (r->second->cpp_type() == FieldDescriptor::CPPTYPE_STRING && !r->second->is_repeated()) {
      std::string current = refl->GetString(*r->first, r->second);
      if (!current.empty() && current != value) {
        return absl::InvalidArgumentError(
            absl::StrCat("field '", path, "': the body and the URL path disagree"));
      }
      refl->ClearField(r->first, r->second);
    }
    if (absl::Status s = SetFieldFromText(request, path, value); !s.ok()) return s;
  }
  for (const auto& [name, value] : query) {
    if (route.body == "*") {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter '", name, "': this method takes its fields in the body"));
    }
    if (!route.body.empty()) {
      std::vector<absl::string_view> parts = absl::StrSplit(name, '.');
      const FieldDescriptor* top = FindField(request->GetDescriptor(), parts[0]);
      if (top != nullptr && top->name() == route.body) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter '", name, "': this field comes in the body"));
      }
    }
    for (const auto& [var, unused] : variables) {
      if (var == name) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter '", name, "': this field comes in the URL path"));
      }
    }
    absl::Status s = SetFieldFromText(request, name, value);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("query parameter ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MessageToJson(const Message& message, JsonDefaults defaults) {
  return BinaryToJson(message.GetDescriptor(), message.SerializeAsString(), defaults);
}

absl::Status JsonToBinary(const Descriptor* type, absl::string_view json, std::string* binary) {
  binary->clear();
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  auto s = google::protobuf::util::JsonToBinaryString(
      Resolver(), TypeUrl(type), google::protobuf::StringPiece(json.data(), json.size()), binary,
      parse);
  if (!s.ok()) return absl::InvalidArgumentError(s.message().ToString());
  return absl::OkStatus();
}

absl::StatusOr<std::string> BinaryToJson(const Descriptor* type, absl::string_view binary,
                                         JsonDefaults defaults) {
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = defaults == JsonDefaults::kPrint;
  std::string out;
  auto s = google::protobuf::util::BinaryToJsonString(Resolver(), TypeUrl(type),
                                                      std::string(binary), &out, print);
  if (!s.ok()) {
    return absl::InternalError(absl::StrCat("cannot print answer: ", s.message().ToString()));
  }
  return out;
}

absl::Status BuildRequestBinary(const Route& route, absl::string_view body,
                                const std::vector<std::pair<std::string, std::string>>& variables,
                                const std::vector<std::pair<std::string, std::string>>& query,
                                std::string* binary) {
  const Descriptor* type = route.method->input_type();
  if (route.body == "*" && variables.empty() && query.empty()) {
    if (absl::Status s = JsonToBinary(type, body.empty() ? "{}" : body, binary); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("request body: ", s.message()));
    }
    return absl::OkStatus();
  }
  std::unique_ptr<Message> request(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (absl::Status s = BuildRequest(route, body, variables, query, request.get()); !s.ok()) {
    return s;
  }
  binary->clear();
  if (!request->SerializeToString(binary)) return absl::InternalError("cannot encode the request");
  return absl::OkStatus();
}

int HttpStatusForCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::UNKNOWN:
      return 500;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 400;
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::INTERNAL:
      return 500;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DATA_LOSS:
      return 500;
    default:
      return 500;
  }
}

std::string StatusToJson(const grpc::Status& status) {
  // Keep the error-detail types linked in, so their Any details print.
  (void)google::rpc::BadRequest::descriptor();
  (void)google::rpc::ErrorInfo::descriptor();
  google::rpc::Status rpc;
  if (status.error_details().empty() || !rpc.ParseFromString(status.error_details()) ||
      rpc.code() != status.error_code()) {
    rpc.Clear();
    rpc.set_code(status.error_code());
    rpc.set_message(status.error_message());
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(rpc, &out, print).ok()) {
    // Details of a type we do not know: the code and message alone.
    rpc.clear_details();
    out.clear();
    (void)google::protobuf::util::MessageToJsonString(rpc, &out, print);
  }
  return out;
}

}  // namespace legwise::gateway
