// The gRPC adapter of legwise.reminder.v1.ReminderService (callback API): checks request fields,
// reads and writes the store, calls the ReminderCore (core/: every rule), fills texts and maps
// results and errors (ToGrpcStatus). Planning lives in planner/, storage in store/, delivery in
// delivery/.
#ifndef LEGWISE_SERVICES_REMINDER_REMINDER_SERVICE_H_
#define LEGWISE_SERVICES_REMINDER_REMINDER_SERVICE_H_

#include <set>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "services/common/executor.h"
#include "services/common/page_token.h"
#include "services/common/security.h"
#include "services/reminder/core/reminder_core.h"
#include "services/reminder/delivery/nudge_hub.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/devices/device_store.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/push/endpoint.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {

class NudgeStreamReactor;

struct ReminderServiceOptions {
  // How far ahead occurrences are put in the due index when a plan is created or changed.
  absl::Duration horizon = absl::Hours(48);
  // Authenticates and rate-limits every call; a user may touch only her own plan and nudges, a
  // service none. Null admits every call (in-process tests).
  CallGuard* guard = nullptr;
  // Open StreamNudges calls one user may have on this replica (phones, tablets); more is
  // RESOURCE_EXHAUSTED.
  int max_streams_per_user = 5;
  // Runs the unary handlers' store calls (blocking Redis round trips) off gRPC's callback threads;
  // a full queue is RESOURCE_EXHAUSTED. Null runs them inline (in-process tests).
  Executor* executor = nullptr;
  // The per-user bounds.
  ReminderLimits limits;
  // Signs ListUpcomingNudges page tokens; null = the built-in key.
  const PageTokenSigner* page_tokens = nullptr;
  // Her push devices (RegisterDevice, ListDevices, UnregisterDevice); null = UNIMPLEMENTED.
  DeviceStore* devices = nullptr;
  // Which Web Push endpoints a registration may name.
  push::EndpointPolicy push_endpoints;
};

class ReminderServiceImpl final : public legwise::reminder::v1::ReminderService::CallbackService {
 public:
  // Everything passed in must outlive the service.
  ReminderServiceImpl(ReminderStore* store, NudgeHub* hub, NudgeTextProvider* texts,
                      const Planner* planner, ReminderServiceOptions options = {});

  // Ends every open StreamNudges call with OK (graceful shutdown).
  void EndStreams();

  grpc::ServerUnaryReactor* CreateReminderPlan(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::CreateReminderPlanRequest* req,
      legwise::reminder::v1::CreateReminderPlanResponse* resp) override;
  grpc::ServerUnaryReactor* GetReminderPlan(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::GetReminderPlanRequest* req,
      legwise::reminder::v1::GetReminderPlanResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateReminderPlan(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::UpdateReminderPlanRequest* req,
      legwise::reminder::v1::UpdateReminderPlanResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteReminderPlan(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::DeleteReminderPlanRequest* req,
      legwise::reminder::v1::DeleteReminderPlanResponse* resp) override;
  grpc::ServerUnaryReactor* ListUpcomingNudges(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::ListUpcomingNudgesRequest* req,
      legwise::reminder::v1::ListUpcomingNudgesResponse* resp) override;
  grpc::ServerWriteReactor<legwise::reminder::v1::Nudge>* StreamNudges(
      grpc::CallbackServerContext* ctx,
      const legwise::reminder::v1::StreamNudgesRequest* req) override;
  grpc::ServerUnaryReactor* AcknowledgeNudge(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::AcknowledgeNudgeRequest* req,
      legwise::reminder::v1::AcknowledgeNudgeResponse* resp) override;
  grpc::ServerUnaryReactor* SnoozeNudge(grpc::CallbackServerContext* ctx,
                                        const legwise::reminder::v1::SnoozeNudgeRequest* req,
                                        legwise::reminder::v1::SnoozeNudgeResponse* resp) override;
  grpc::ServerUnaryReactor* LogWaterIntake(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::LogWaterIntakeRequest* req,
      legwise::reminder::v1::LogWaterIntakeResponse* resp) override;
  grpc::ServerUnaryReactor* RegisterDevice(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::RegisterDeviceRequest* req,
      legwise::reminder::v1::RegisterDeviceResponse* resp) override;
  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* ctx,
                                        const legwise::reminder::v1::ListDevicesRequest* req,
                                        legwise::reminder::v1::ListDevicesResponse* resp) override;
  grpc::ServerUnaryReactor* UnregisterDevice(
      grpc::CallbackServerContext* ctx, const legwise::reminder::v1::UnregisterDeviceRequest* req,
      legwise::reminder::v1::UnregisterDeviceResponse* resp) override;

  // The operations behind the RPCs (public for tests that drive the adapter without a server).
  absl::Status DoCreate(const legwise::reminder::v1::CreateReminderPlanRequest& req,
                        legwise::reminder::v1::ReminderPlan* out);
  absl::Status DoGet(const legwise::reminder::v1::GetReminderPlanRequest& req,
                     legwise::reminder::v1::ReminderPlan* out);
  absl::Status DoUpdate(const legwise::reminder::v1::UpdateReminderPlanRequest& req,
                        legwise::reminder::v1::ReminderPlan* out);
  absl::Status DoDelete(const legwise::reminder::v1::DeleteReminderPlanRequest& req);
  absl::Status DoList(const legwise::reminder::v1::ListUpcomingNudgesRequest& req,
                      legwise::reminder::v1::ListUpcomingNudgesResponse* resp);
  absl::Status DoAcknowledge(const legwise::reminder::v1::AcknowledgeNudgeRequest& req);
  absl::Status DoSnooze(const legwise::reminder::v1::SnoozeNudgeRequest& req,
                        legwise::reminder::v1::SnoozeNudgeResponse* resp);
  absl::Status DoLogWater(const legwise::reminder::v1::LogWaterIntakeRequest& req,
                          legwise::reminder::v1::LogWaterIntakeResponse* resp);
  absl::Status DoRegisterDevice(const legwise::reminder::v1::RegisterDeviceRequest& req,
                                legwise::reminder::v1::RegisterDeviceResponse* resp);
  absl::Status DoListDevices(const legwise::reminder::v1::ListDevicesRequest& req,
                             legwise::reminder::v1::ListDevicesResponse* resp);
  absl::Status DoUnregisterDevice(const legwise::reminder::v1::UnregisterDeviceRequest& req);

 private:
  friend class NudgeStreamReactor;
  // `plan`'s first occurrence after `now`.
  absl::Time FirstDue(const Plan& plan, absl::Time now) const;
  // Makes her entry in the per-plan due index due no later than FirstDue (creating it, watermark
  // `now`, when she has none).
  absl::Status WakeFor(const Plan& plan, absl::Time now);
  // Admits the caller and checks she owns `user_id`.
  absl::Status Authorize(grpc::CallbackServerContext* ctx, const std::string& user_id) const;
  // A unary answer: Authorize, then `handle()` (the Do* step, on the executor), then Finish with
  // its status. `handle` must not refer to the caller's locals: it may run after Respond returns.
  template <typename Handle>
  grpc::ServerUnaryReactor* Respond(grpc::CallbackServerContext* ctx, const std::string& user_id,
                                    Handle&& handle);
  void Register(NudgeStreamReactor* r);
  void Unregister(NudgeStreamReactor* r);
  // Her stored plan (and state), parsed.
  absl::StatusOr<ValidPlan> LoadPlan(const std::string& user_id);
  absl::StatusOr<std::pair<ValidPlan, UserState>> LoadPlanAndState(const std::string& user_id);
  // Title and body in the nudge's locale, rendered for her plan (her water target).
  void FillTexts(const Plan& plan, legwise::reminder::v1::Nudge* nudge);

  ReminderStore* store_;
  NudgeHub* hub_;
  NudgeTextProvider* texts_;
  const Planner* planner_;
  ReminderServiceOptions options_;
  ReminderCore core_;
  absl::Mutex streams_mu_;
  std::set<NudgeStreamReactor*> streams_ ABSL_GUARDED_BY(streams_mu_);
  // Open (or reserved) streams per user, for max_streams_per_user.
  absl::flat_hash_map<std::string, int> streams_per_user_ ABSL_GUARDED_BY(streams_mu_);
  bool ending_ ABSL_GUARDED_BY(streams_mu_) = false;
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_REMINDER_SERVICE_H_
