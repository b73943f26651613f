#include "services/common/reflection.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/common/validation.h"

namespace legwise {
namespace {

namespace pb = google::protobuf;

// At most this many requests per stream: a reflection client needs a handful.
constexpr int kMaxRequestsPerStream = 1000;

// One stream: answers each request in order. `R` is the generated reflection namespace's request
// type, `W` its response; the two versions' messages have the same fields.
template <typename Req, typename Resp>
class ReflectionReactor : public grpc::ServerBidiReactor<Req, Resp> {
 public:
  ReflectionReactor(grpc::CallbackServerContext* context, const std::vector<std::string>* services,
                    CallGuard* guard)
      : services_(services) {
    if (guard != nullptr) {
      absl::StatusOr<Caller> caller = guard->Admit(context);
      if (!caller.ok()) {
        this->Finish(ToGrpcStatus(caller.status()));
        return;
      }
    }
    this->StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status::OK);
      return;
    }
    if (++requests_ > kMaxRequestsPerStream) {
      this->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "too many reflection requests on one stream"));
      return;
    }
    response_.Clear();
    Answer(request_, &response_);
    this->StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    request_.Clear();
    this->StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void Error(Resp* out, grpc::StatusCode code, const std::string& message) {
    out->mutable_error_response()->set_error_code(static_cast<int>(code));
    out->mutable_error_response()->set_error_message(message);
  }

  // The file and every file it depends on, each once per stream.
  void AddFile(const pb::FileDescriptor* file, Resp* out) {
    std::vector<const pb::FileDescriptor*> todo = {file};
    auto* files = out->mutable_file_descriptor_response();
    while (!todo.empty()) {
      const pb::FileDescriptor* f = todo.back();
      todo.pop_back();
      if (!sent_.insert(f->name()).second && f != file) continue;
      pb::FileDescriptorProto proto;
      f->CopyTo(&proto);
      proto.SerializeToString(files->add_file_descriptor_proto());
      for (int i = 0; i < f->dependency_count(); ++i) todo.push_back(f->dependency(i));
    }
  }

  void Answer(const Req& req, Resp* out) {
    out->set_valid_host(req.host());
    *out->mutable_original_request() = req;
    const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
    switch (req.message_request_case()) {
      case Req::kListServices:
        for (const std::string& name : *services_) {
          out->mutable_list_services_response()->add_service()->set_name(name);
        }
        return;
      case Req::kFileByFilename: {
        const pb::FileDescriptor* f = pool->FindFileByName(req.file_by_filename());
        if (f == nullptr) return Error(out, grpc::StatusCode::NOT_FOUND, "file not found");
        return AddFile(f, out);
      }
      case Req::kFileContainingSymbol: {
        const pb::FileDescriptor* f = pool->FindFileContainingSymbol(req.file_containing_symbol());
        if (f == nullptr) return Error(out, grpc::StatusCode::NOT_FOUND, "symbol not found");
        return AddFile(f, out);
      }
      case Req::kFileContainingExtension: {
        const pb::Descriptor* type =
            pool->FindMessageTypeByName(req.file_containing_extension().containing_type());
        const pb::FieldDescriptor* ext =
            type == nullptr ? nullptr
                            : pool->FindExtensionByNumber(
                                  type, req.file_containing_extension().extension_number());
        if (ext == nullptr) return Error(out, grpc::StatusCode::NOT_FOUND, "extension not found");
        return AddFile(ext->file(), out);
      }
      case Req::kAllExtensionNumbersOfType: {
        const pb::Descriptor* type =
            pool->FindMessageTypeByName(req.all_extension_numbers_of_type());
        if (type == nullptr) return Error(out, grpc::StatusCode::NOT_FOUND, "type not found");
        std::vector<const pb::FieldDescriptor*> exts;
        pool->FindAllExtensions(type, &exts);
        auto* numbers = out->mutable_all_extension_numbers_response();
        numbers->set_base_type_name(type->full_name());
        for (const pb::FieldDescriptor* e : exts) numbers->add_extension_number(e->number());
        return;
      }
      default:
        return Error(out, grpc::StatusCode::INVALID_ARGUMENT, "unknown reflection request");
    }
  }

  const std::vector<std::string>* services_;
  Req request_;
  Resp response_;
  int requests_ = 0;
  absl::flat_hash_set<std::string> sent_;
};

using Services = std::shared_ptr<const std::vector<std::string>>;

class ReflectionV1 : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  ReflectionV1(Services services, CallGuard* guard)
      : services_(std::move(services)), guard_(guard) {}
  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override {
    return new ReflectionReactor<grpc::reflection::v1::ServerReflectionRequest,
                                 grpc::reflection::v1::ServerReflectionResponse>(
        context, services_.get(), guard_);
  }

 private:
  Services services_;
  CallGuard* guard_;
};

class ReflectionV1Alpha : public grpc::reflection::v1alpha::ServerReflection::CallbackService {
 public:
  ReflectionV1Alpha(Services services, CallGuard* guard)
      : services_(std::move(services)), guard_(guard) {}
  grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                          grpc::reflection::v1alpha::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override {
    return new ReflectionReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                                 grpc::reflection::v1alpha::ServerReflectionResponse>(
        context, services_.get(), guard_);
  }

 private:
  Services services_;
  CallGuard* guard_;
};

}  // namespace

std::vector<std::unique_ptr<grpc::Service>> MakeReflectionServices(
    std::vector<std::string> services, CallGuard* guard) {
  for (const char* extra : {"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                            "grpc.reflection.v1alpha.ServerReflection"}) {
    if (std::find(services.begin(), services.end(), extra) == services.end()) {
      services.push_back(extra);
    }
  }
  std::sort(services.begin(), services.end());
  // gRPC's health service is not generated code: referencing the generated messages links their
  // descriptors in, so reflection can describe grpc.health.v1.Health.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  auto list = std::make_shared<const std::vector<std::string>>(std::move(services));
  std::vector<std::unique_ptr<grpc::Service>> out;
  out.push_back(std::make_unique<ReflectionV1>(list, guard));
  out.push_back(std::make_unique<ReflectionV1Alpha>(list, guard));
  return out;
}

}  // namespace legwise
