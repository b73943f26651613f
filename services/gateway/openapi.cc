#include "services/gateway/openapi.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/status.pb.h"

namespace legwise::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Struct;
using google::protobuf::Value;

Value S(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}
Struct& Obj(Struct* parent, const std::string& key) {
  return *(*parent->mutable_fields())[key].mutable_struct_value();
}
Value Ref(const Descriptor* d) {
  Value v;
  (*v.mutable_struct_value()->mutable_fields())["$ref"] =
      S(absl::StrCat("#/components/schemas/", d->full_name()));
  return v;
}

class Builder {
 public:
  explicit Builder(Struct* schemas) : schemas_(schemas) {}

  Value FieldSchema(const FieldDescriptor* f) {
    Value item = ScalarOrRef(f);
    if (f->is_map()) {
      Value v;
      Struct& s = *v.mutable_struct_value();
      (*s.mutable_fields())["type"] = S("object");
      (*s.mutable_fields())["additionalProperties"] =
          ScalarOrRef(f->message_type()->FindFieldByName("value"));
      return v;
    }
    if (f->is_repeated()) {
      Value v;
      Struct& s = *v.mutable_struct_value();
      (*s.mutable_fields())["type"] = S("array");
      (*s.mutable_fields())["items"] = item;
      return v;
    }
    return item;
  }

  void Add(const Descriptor* d) {
    if (!seen_.insert(d->full_name()).second) return;
    Struct& schema = Obj(schemas_, d->full_name());
    (*schema.mutable_fields())["type"] = S("object");
    Struct& props = Obj(&schema, "properties");
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      (*props.mutable_fields())[f->json_name()] = FieldSchema(f);
    }
  }

 private:
  Value ScalarOrRef(const FieldDescriptor* f) {
    Value v;
    Struct& s = *v.mutable_struct_value();
    auto set = [&](const char* type, const char* format = nullptr) {
      (*s.mutable_fields())["type"] = S(type);
      if (format) (*s.mutable_fields())["format"] = S(format);
    };
    switch (f->type()) {
      case FieldDescriptor::TYPE_INT32:
      case FieldDescriptor::TYPE_SINT32:
      case FieldDescriptor::TYPE_SFIXED32:
        set("integer", "int32");
        break;
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_FIXED32:
        set("integer", "int64");
        break;
      case FieldDescriptor::TYPE_INT64:
      case FieldDescriptor::TYPE_SINT64:
      case FieldDescriptor::TYPE_SFIXED64:
      case FieldDescriptor::TYPE_UINT64:
      case FieldDescriptor::TYPE_FIXED64:
        set("string", "int64");
        break;
      case FieldDescriptor::TYPE_FLOAT:
        set("number", "float");
        break;
      case FieldDescriptor::TYPE_DOUBLE:
        set("number", "double");
        break;
      case FieldDescriptor::TYPE_BOOL:
        set("boolean");
        break;
      case FieldDescriptor::TYPE_STRING:
        set("string");
        break;
      case FieldDescriptor::TYPE_BYTES:
        set("string", "byte");
        break;
      case FieldDescriptor::TYPE_ENUM: {
        set("string");
        auto* values = (*s.mutable_fields())["enum"].mutable_list_value();
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          *values->add_values() = S(f->enum_type()->value(i)->name());
        }
        break;
      }
      case FieldDescriptor::TYPE_MESSAGE:
      case FieldDescriptor::TYPE_GROUP: {
        const Descriptor* m = f->message_type();
        const std::string& n = m->full_name();
        if (n == "google.protobuf.Timestamp") {
          set("string", "date-time");
        } else if (n == "google.protobuf.Duration") {
          set("string");
        } else if (n == "google.protobuf.Any") {
          set("object");
          (*s.mutable_fields())["additionalProperties"].set_bool_value(true);
        } else {
          Add(m);
          return Ref(m);
        }
        break;
      }
    }
    return v;
  }

  Struct* schemas_;
  std::set<std::string> seen_;
};

// Query parameters of a GET/DELETE: the request's scalar fields (one level of nesting, dotted),
// minus those bound in the path.
void QueryParams(const Descriptor* d, const std::string& prefix, int depth,
                 const std::set<std::string>& path_vars, Builder* b,
                 google::protobuf::ListValue* out) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    std::string name = prefix + f->json_name();
    std::string proto_name = prefix + f->name();
    if (path_vars.count(proto_name)) continue;
    if (f->type() == FieldDescriptor::TYPE_MESSAGE &&
        f->message_type()->full_name() != "google.protobuf.Timestamp") {
      if (depth < 1 && !f->is_repeated() && !f->is_map()) {
        QueryParams(f->message_type(), name + ".", depth + 1, path_vars, b, out);
      }
      continue;
    }
    Struct& p = *out->add_values()->mutable_struct_value();
    (*p.mutable_fields())["name"] = S(name);
    (*p.mutable_fields())["in"] = S("query");
    (*p.mutable_fields())["schema"] = b->FieldSchema(f);
  }
}

}  // namespace

std::string OpenApiJson(const std::vector<Route>& routes, const std::string& base_url) {
  Struct doc;
  (*doc.mutable_fields())["openapi"] = S("3.0.3");
  Struct& info = Obj(&doc, "info");
  (*info.mutable_fields())["title"] = S("legwise HTTP API");
  (*info.mutable_fields())["version"] = S("v1");
  (*info.mutable_fields())["description"] =
      S("JSON over HTTP for the legwise gRPC services, generated from their google.api.http "
        "annotations. Errors are google.rpc.Status JSON under the HTTP status AIP-193 maps the "
        "code to.");
  if (!base_url.empty()) {
    Struct& server = *(*doc.mutable_fields())["servers"]
                          .mutable_list_value()
                          ->add_values()
                          ->mutable_struct_value();
    (*server.mutable_fields())["url"] = S(base_url);
  }
  Struct& components = Obj(&doc, "components");
  Struct& schemas = Obj(&components, "schemas");
  Builder b(&schemas);
  b.Add(google::rpc::Status::descriptor());
  Struct& paths = Obj(&doc, "paths");
  for (const Route& r : routes) {
    std::string path;
    std::set<std::string> vars;
    for (const Route::Segment& s : r.segments) {
      absl::StrAppend(&path, "/", s.is_variable ? absl::StrCat("{", s.text, "}") : s.text);
      if (s.is_variable) vars.insert(s.text);
    }
    if (!r.verb.empty()) absl::StrAppend(&path, ":", r.verb);
    Struct& item = Obj(&paths, path);
    Struct& op = Obj(&item, absl::AsciiStrToLower(r.http_method));
    (*op.mutable_fields())["operationId"] = S(r.method->full_name());
    (*op.mutable_fields())["tags"].mutable_list_value()->add_values()->set_string_value(
        r.method->service()->full_name());
    auto* params = (*op.mutable_fields())["parameters"].mutable_list_value();
    for (const std::string& v : vars) {
      Struct& p = *params->add_values()->mutable_struct_value();
      (*p.mutable_fields())["name"] = S(v);
      (*p.mutable_fields())["in"] = S("path");
      (*p.mutable_fields())["required"].set_bool_value(true);
      (*Obj(&p, "schema").mutable_fields())["type"] = S("string");
    }
    if (r.body.empty()) {
      QueryParams(r.method->input_type(), "", 0, vars, &b, params);
    } else {
      const Descriptor* body = r.method->input_type();
      if (r.body != "*") body = body->FindFieldByName(r.body)->message_type();
      b.Add(body);
      Struct& rb = Obj(&op, "requestBody");
      (*rb.mutable_fields())["required"].set_bool_value(true);
      (*Obj(&Obj(&Obj(&rb, "content"), "application/json"), "schema").mutable_fields()) =
          Ref(body).struct_value().fields();
    }
    b.Add(r.method->output_type());
    Struct& responses = Obj(&op, "responses");
    Struct& ok = Obj(&responses, "200");
    if (r.method->server_streaming()) {
      (*ok.mutable_fields())["description"] = S(
          "Server-Sent Events: each event is `event: nudge`, `id:` the resume token, `data:` one " +
          r.method->output_type()->full_name() + " as JSON. Send Last-Event-ID to resume.");
      (*Obj(&Obj(&ok, "content"), "text/event-stream").mutable_fields())["schema"] =
          Ref(r.method->output_type());
    } else {
      (*ok.mutable_fields())["description"] = S("OK");
      (*Obj(&Obj(&ok, "content"), "application/json").mutable_fields())["schema"] =
          Ref(r.method->output_type());
    }
    Struct& err = Obj(&responses, "default");
    (*err.mutable_fields())["description"] = S("google.rpc.Status");
    (*Obj(&Obj(&err, "content"), "application/json").mutable_fields())["schema"] =
        Ref(google::rpc::Status::descriptor());
  }
  // The endpoints that are not transcoded RPCs.
  auto plain = [&](const std::string& path, const std::string& method, const std::string& what,
                   const std::string& type) {
    Struct& op = Obj(&Obj(&paths, path), method);
    (*op.mutable_fields())["summary"] = S(what);
    Struct& ok = Obj(&Obj(&op, "responses"), "200");
    (*ok.mutable_fields())["description"] = S(what);
    Obj(&Obj(&ok, "content"), type);
  };
  plain("/cds-services", "get", "CDS Hooks 2.0 discovery", "application/json");
  plain("/cds-services/legwise-leg-symptoms", "post",
        "CDS Hooks 2.0 service call (patient-view): cards", "application/json");
  plain("/cds-services/legwise-leg-symptoms/feedback", "post", "CDS Hooks 2.0 feedback",
        "application/json");
  plain("/infobutton", "get",
        "HL7 Infobutton (URL-based): a feed of matching topics; Atom with "
        "knowledgeResponseType=text/xml",
        "application/json");
  plain("/openapi.json", "get", "This document", "application/json");
  std::string out;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(doc, &out, print);
  return out;
}

}  // namespace legwise::gateway
