#include "api/openapi.h"

#include "api/auth.h"

namespace custos::api {
namespace {

// Keep in step with the route comments in scep_api.h, mdm_api.h and push_api.h.
constexpr char kDocument[] = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "custos admin API",
    "version": "1",
    "description": "Administration of custos: enrollments, MDM commands, APNs pushes, push certificates, SCEP and ACME one-time secrets. NanoMDM-compatible endpoints (/v1/enqueue, /v1/push, /v1/pushcert) answer with NanoMDM's JSON."
  },
  "security": [{"basic": []}, {"bearer": []}],
  "components": {
    "securitySchemes": {
      "basic": {"type": "http", "scheme": "basic", "description": "user \"custos\", password = [api] key"},
      "bearer": {"type": "http", "scheme": "bearer", "description": "the [api] key"}
    },
    "parameters": {
      "id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "enrollment ID (UDID, or UDID:UserID for a user channel)"},
      "ids": {"name": "ids", "in": "path", "required": true, "schema": {"type": "string"}, "description": "comma-separated enrollment IDs"},
      "uuid": {"name": "uuid", "in": "path", "required": true, "schema": {"type": "string"}, "description": "CommandUUID"},
      "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}}
    },
    "schemas": {
      "Error": {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
      "Policy": {"type": "object", "properties": {"require_hardware_attestation": {"type": "boolean"}, "eligibility_rule": {"type": "string"}}},
      "Enrollment": {"type": "object", "required": ["id", "type", "enabled", "serial"], "properties": {
        "id": {"type": "string"}, "type": {"type": "string", "example": "Device"}, "enabled": {"type": "boolean"},
        "serial": {"type": "string"}, "device_id": {"type": "string"}, "parent_id": {"type": "string"},
        "hardware_attested": {"type": "boolean", "description": "the device's identity was issued after a valid ACME device-attest-01 (issue 7)"},
        "user_id": {"type": "string"}, "user_short_name": {"type": "string"}, "user_long_name": {"type": "string"},
        "topic": {"type": "string"}, "has_push_token": {"type": "boolean"}, "token_unregistered": {"type": "boolean"},
        "token_update_tally": {"type": "integer"}, "last_seen": {"type": "string", "format": "date-time", "nullable": true},
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
      "QueueEntry": {"type": "object", "required": ["command_uuid", "request_type", "status"], "properties": {
        "command_uuid": {"type": "string"}, "enrollment_id": {"type": "string"}, "request_type": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "sent", "NotNow", "Acknowledged", "Error", "CommandFormatError", "cleared", "expired"]},
        "active": {"type": "boolean"}, "priority": {"type": "integer"},
        "queued_at": {"type": "string", "format": "date-time"}, "sent_at": {"type": "string", "format": "date-time", "nullable": true},
        "result_at": {"type": "string", "format": "date-time", "nullable": true}, "expires_at": {"type": "string", "format": "date-time", "nullable": true},
        "result": {"type": "object", "description": "the device's report, plist rendered as JSON (data as base64)"},
        "result_plist": {"type": "string", "format": "byte", "description": "the device's report, raw plist"},
        "error_chain": {"type": "array", "items": {"type": "object"}}}},
      "EnqueueRequest": {"type": "object", "required": ["enrollment_ids"], "properties": {
        "enrollment_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "request_type": {"type": "string", "description": "a builder: DeviceInformation, SecurityInfo, ProfileList, InstallProfile, RemoveProfile, CertificateList, InstalledApplicationList, RestartDevice, ShutDownDevice, DeviceLock, EraseDevice"},
        "params": {"type": "object", "description": "Apple's payload keys for request_type; data values as base64"},
        "raw_command": {"type": "string", "description": "instead of request_type: a command plist {CommandUUID, Command}"},
        "command_uuid": {"type": "string"}, "priority": {"type": "integer"},
        "expires_at": {"type": "string", "format": "date-time"}, "no_push": {"type": "boolean"}}},
      "EnqueueResult": {"type": "object", "properties": {
        "command_uuid": {"type": "string"}, "request_type": {"type": "string"},
        "queued": {"type": "array", "items": {"type": "string"}}, "unknown": {"type": "array", "items": {"type": "string"}},
        "push_requested": {"type": "boolean"}}},
      "NanoMdmResult": {"type": "object", "description": "NanoMDM's APIResult", "properties": {
        "status": {"type": "object", "additionalProperties": {"type": "object", "properties": {
          "push_error": {"type": "string"}, "push_result": {"type": "string", "description": "apns-id"}, "command_error": {"type": "string"}}}},
        "no_push": {"type": "boolean"}, "push_error": {"type": "string"}, "command_error": {"type": "string"},
        "command_uuid": {"type": "string"}, "request_type": {"type": "string"}}},
      "NanoPushCert": {"type": "object", "properties": {"topic": {"type": "string"}, "not_after": {"type": "string", "format": "date-time"}, "error": {"type": "string"}}},
      "PushCert": {"type": "object", "properties": {
        "topic": {"type": "string"}, "subject": {"type": "string"}, "sha256": {"type": "string"},
        "not_before": {"type": "string", "format": "date-time"}, "not_after": {"type": "string", "format": "date-time"},
        "key_encrypted": {"type": "boolean"}, "updated_at": {"type": "string", "format": "date-time"}, "expires_in_days": {"type": "integer"}}}
    },
    "responses": {
      "Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Nano": {"description": "200 all succeeded, 207 some failed, 500 all failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NanoMdmResult"}}}}
    }
  },
  "paths": {
    "/v1/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {}}}}}},
    "/v1/enrollments": {"get": {"summary": "list enrollments", "parameters": [
        {"name": "type", "in": "query", "schema": {"type": "string"}}, {"name": "serial", "in": "query", "schema": {"type": "string"}},
        {"name": "device_id", "in": "query", "schema": {"type": "string"}}, {"name": "enabled", "in": "query", "schema": {"type": "boolean"}},
        {"name": "id", "in": "query", "schema": {"type": "string"}, "description": "comma-separated IDs"},
        {"$ref": "#/components/parameters/limit"}, {"name": "after", "in": "query", "schema": {"type": "string"}, "description": "X-Next-After of the previous page"}],
      "responses": {"200": {"description": "ordered by id", "headers": {"X-Next-After": {"schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Enrollment"}}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/policy": {"get": {"summary": "the enrollment policy: require_hardware_attestation and the eligibility rule",
        "responses": {"200": {"description": "the policy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Policy"}}}}}},
      "put": {"summary": "set require_hardware_attestation (stored, for every custos process on the database)",
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["require_hardware_attestation"],
          "properties": {"require_hardware_attestation": {"type": "boolean"}}}}}},
        "responses": {"200": {"description": "the policy now", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Policy"}}}},
          "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/policy/eligibility": {"get": {"summary": "whether a device is eligible for a hardware-attested identity",
        "parameters": [{"name": "serial", "in": "query", "schema": {"type": "string"}}, {"name": "product", "in": "query", "schema": {"type": "string"}},
          {"name": "os_version", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "the verdict", "content": {"application/json": {"schema": {"type": "object", "properties": {
          "eligible": {"type": "boolean"}, "reason": {"type": "string"}}}}}}}}},
    "/v1/renewals": {"get": {"summary": "identity renewal attempts (issue 7, api/renewal_api.h), oldest first",
        "parameters": [{"name": "enrollment_id", "in": "query", "schema": {"type": "string"}},
          {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["pending", "completed", "failed"]}},
          {"$ref": "#/components/parameters/limit"}, {"name": "after", "in": "query", "schema": {"type": "integer"}, "description": "X-Next-After of the previous page"}],
        "responses": {"200": {"description": "ordered by id", "headers": {"X-Next-After": {"schema": {"type": "string"}}},
          "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "enrollment_id": {"type": "string"}, "old_serial": {"type": "string"},
            "old_not_after": {"type": "string", "format": "date-time"}, "identity_kind": {"type": "string", "enum": ["scep", "acme"]},
            "command_uuid": {"type": "string"}, "status": {"type": "string"}, "reason": {"type": "string"}, "new_serial": {"type": "string"},
            "requested_at": {"type": "string", "format": "date-time"}, "completed_at": {"type": "string", "format": "date-time", "nullable": true}}}}}}},
          "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/renewals/run": {"post": {"summary": "run the identity renewal job once (dry_run: change nothing; at: select as of that instant)",
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
          "dry_run": {"type": "boolean"}, "at": {"type": "string", "format": "date-time"}}}}}},
        "responses": {"200": {"description": "what was (or would be) renewed", "content": {"application/json": {"schema": {"type": "object", "properties": {
          "at": {"type": "string", "format": "date-time"}, "dry_run": {"type": "boolean"}, "queued": {"type": "integer"}, "failed": {"type": "integer"},
          "skipped": {"type": "integer", "description": "identities another custos process on the database renewed meanwhile"},
          "renewals": {"type": "array", "items": {"type": "object", "properties": {"enrollment_id": {"type": "string"}, "serial": {"type": "string"},
            "not_after": {"type": "string", "format": "date-time"}, "current_kind": {"type": "string"}, "identity": {"type": "string"},
            "reason": {"type": "string"}, "command_uuid": {"type": "string"}, "request_id": {"type": "integer"}, "attempts": {"type": "integer"},
            "error": {"type": "string"}, "skipped": {"type": "boolean"}}}}}}}}},
          "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/enrollment-refusals": {"get": {"summary": "refused enrollment attempts (failed attestation, identity not hardware-attested), oldest first",
        "parameters": [{"name": "serial", "in": "query", "schema": {"type": "string"}}, {"$ref": "#/components/parameters/limit"},
          {"name": "after", "in": "query", "schema": {"type": "integer"}, "description": "X-Next-After of the previous page"}],
        "responses": {"200": {"description": "ordered by id", "headers": {"X-Next-After": {"schema": {"type": "string"}}},
          "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "serial": {"type": "string"}, "udid": {"type": "string"},
            "stage": {"type": "string", "enum": ["acme", "authenticate"]}, "reason": {"type": "string"},
            "detail": {"type": "object"}, "created_at": {"type": "string", "format": "date-time"}}}}}}},
          "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/enrollments/{id}": {"parameters": [{"$ref": "#/components/parameters/id"}], "get": {"summary": "one enrollment",
      "responses": {"200": {"description": "the enrollment", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Enrollment"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/enrollments/{id}/commands": {"parameters": [{"$ref": "#/components/parameters/id"}],
      "get": {"summary": "queue and results of an enrollment", "parameters": [{"name": "active", "in": "query", "schema": {"type": "boolean"}},
          {"$ref": "#/components/parameters/limit"}, {"name": "after", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "in enqueue order", "headers": {"X-Next-After": {"schema": {"type": "string"}}},
          "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/QueueEntry"}}}}}, "404": {"$ref": "#/components/responses/Error"}}},
      "delete": {"summary": "delete every queued command of the enrollment", "responses": {"200": {"description": "how many",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"deleted": {"type": "integer"}}}}}}}}},
    "/v1/enrollments/{id}/commands/{uuid}": {"parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/uuid"}],
      "delete": {"summary": "delete one queued command", "responses": {"200": {"description": "deleted",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"deleted": {"type": "integer"}}}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/commands": {"post": {"summary": "enqueue a command for enrollments (JSON builder or raw plist) and push",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnqueueRequest"}}}},
      "responses": {"201": {"description": "queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EnqueueResult"}}}},
        "400": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/commands/{uuid}": {"parameters": [{"$ref": "#/components/parameters/uuid"}], "get": {"summary": "a command and its per-enrollment results",
      "responses": {"200": {"description": "the command", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "command_uuid": {"type": "string"}, "request_type": {"type": "string"}, "priority": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"}, "expires_at": {"type": "string", "format": "date-time", "nullable": true},
        "payload": {"type": "string", "description": "the command plist"}, "results": {"type": "array", "items": {"$ref": "#/components/schemas/QueueEntry"}}}}}}},
        "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/enqueue/{ids}": {"parameters": [{"$ref": "#/components/parameters/ids"}], "put": {"summary": "NanoMDM: enqueue a raw command plist, then push",
      "parameters": [{"name": "nopush", "in": "query", "schema": {"type": "string"}, "description": "any non-empty value: do not push"}],
      "requestBody": {"required": true, "content": {"application/xml": {"schema": {"type": "string"}}}},
      "responses": {"200": {"$ref": "#/components/responses/Nano"}, "207": {"$ref": "#/components/responses/Nano"}, "400": {"$ref": "#/components/responses/Nano"}, "500": {"$ref": "#/components/responses/Nano"}}}},
    "/v1/push/{ids}": {"parameters": [{"$ref": "#/components/parameters/ids"}],
      "get": {"summary": "NanoMDM: send APNs pushes", "responses": {"200": {"$ref": "#/components/responses/Nano"}, "207": {"$ref": "#/components/responses/Nano"}, "500": {"$ref": "#/components/responses/Nano"}}},
      "post": {"summary": "NanoMDM: send APNs pushes", "responses": {"200": {"$ref": "#/components/responses/Nano"}, "207": {"$ref": "#/components/responses/Nano"}, "500": {"$ref": "#/components/responses/Nano"}}}},
    "/v1/pushcert": {
      "put": {"summary": "NanoMDM: install a push certificate (PEM certificate + unencrypted key, concatenated)",
        "requestBody": {"required": true, "content": {"application/x-pem-file": {"schema": {"type": "string"}}}},
        "responses": {"200": {"description": "installed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NanoPushCert"}}}},
          "400": {"description": "unusable", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NanoPushCert"}}}}}},
      "get": {"summary": "NanoMDM: topic and expiry of the push certificate of a topic",
        "parameters": [{"name": "topic", "in": "query", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NanoPushCert"}}}},
          "400": {"description": "no topic"}, "404": {"description": "none for this topic"}}}},
    "/v1/pushcerts": {
      "get": {"summary": "every installed push certificate", "responses": {"200": {"description": "by topic",
        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/PushCert"}}}}}}},
      "post": {"summary": "install a push certificate from PEM or PKCS#12",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
          "cert_pem": {"type": "string"}, "key_pem": {"type": "string"}, "p12": {"type": "string", "format": "byte"}, "password": {"type": "string"}}}}}},
        "responses": {"201": {"description": "installed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushCert"}}}},
          "400": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/scep/challenges": {"post": {"summary": "a fresh one-time SCEP challenge",
      "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"ttl": {"type": "string", "example": "1h"}, "bound_to": {"type": "string"}}}}}},
      "responses": {"201": {"description": "created", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "challenge": {"type": "string"}, "ttl": {"type": "string"}, "bound_to": {"type": "string"}}}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/acme/client-identifiers": {"post": {"summary": "a fresh one-time ACME client identifier (device-attest-01 enrollment)",
      "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"bound_to": {"type": "string"}}}}}},
      "responses": {"201": {"description": "created", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "client_identifier": {"type": "string"}, "bound_to": {"type": "string"}}}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/devices/{id}/attest": {"parameters": [{"$ref": "#/components/parameters/id"}], "post": {"summary": "request a fresh DeviceInformation attestation (DevicePropertiesAttestation with a random 32-byte nonce) and push",
      "parameters": [{"name": "force", "in": "query", "schema": {"type": "boolean"}, "description": "send even inside the attestation rate limit"}],
      "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"force": {"type": "boolean"}, "no_push": {"type": "boolean"}}}}}},
      "responses": {"201": {"description": "queued", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "command_uuid": {"type": "string"}, "device_id": {"type": "string"}, "nonce": {"type": "string", "description": "hex"},
        "trigger": {"type": "string"}, "forced": {"type": "boolean"}, "requested_at": {"type": "string", "format": "date-time"},
        "push_requested": {"type": "boolean"}}}}}},
        "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
        "409": {"description": "an earlier request is younger than the rate limit (force to send anyway)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/v1/devices/{id}/posture": {"parameters": [{"$ref": "#/components/parameters/id"}], "get": {"summary": "the device's posture: attested properties, verdicts and trust level",
      "responses": {"200": {"description": "the posture", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "device_id": {"type": "string"}, "serial_number": {"type": "string"}, "reported_os_version": {"type": "string"},
        "trust_level": {"type": "string", "enum": ["high", "medium", "low", "untrusted"], "description": "high: hardware-attested identity (ACME device-attest-01) and a current attestation; medium: one of the two; low: neither; untrusted: the latest verdict is refused or suspicious"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "hardware_attested_identity": {"type": "boolean"},
        "identities": {"type": "array", "items": {"type": "object"}},
        "attested": {"type": "object", "nullable": true, "description": "properties of the newest fresh or cached attestation"},
        "attested_verdict": {"type": "string", "nullable": true}, "attested_at": {"type": "string", "format": "date-time", "nullable": true},
        "last_fresh_attestation_at": {"type": "string", "format": "date-time", "nullable": true},
        "latest_verdict": {"type": "object", "nullable": true, "properties": {
          "verdict": {"type": "string", "enum": ["fresh", "cached", "suspicious", "refused", "missing", "error"]}, "reason": {"type": "string"},
          "findings": {"type": "array", "items": {"type": "string"}}, "command_uuid": {"type": "string"},
          "received_at": {"type": "string", "format": "date-time"}, "properties": {"type": "object"}}},
        "last_request": {"type": "object", "nullable": true}, "pending_request": {"type": "object", "nullable": true},
        "next_attestation_due_at": {"type": "string", "format": "date-time", "nullable": true}, "due_reason": {"type": "string"},
        "rate_limit": {"type": "string"}, "history": {"type": "array", "items": {"type": "object"}}}}}}},
        "404": {"$ref": "#/components/responses/Error"}}}}
  }
})json";

// "/v1/dep/{name}/proxy/*" -> "/v1/dep/{name}/proxy/{path}".
std::string OpenApiPath(std::string pattern) {
  if (!pattern.empty() && pattern.back() == '*') pattern.replace(pattern.size() - 1, 1, "{path}");
  return pattern;
}

}  // namespace

const nlohmann::json& OpenApiDocument() {
  static const nlohmann::json* doc = new nlohmann::json(nlohmann::json::parse(kDocument));
  return *doc;
}

nlohmann::json OpenApiDocumentFor(const http::Router& router) {
  nlohmann::json doc = OpenApiDocument();
  nlohmann::json& paths = doc["paths"];
  for (const std::string& route : router.Patterns()) {  // "METHOD /pattern"
    size_t space = route.find(' ');
    if (space == std::string::npos) continue;
    std::string method = route.substr(0, space);
    std::string pattern = route.substr(space + 1);
    if (pattern.rfind("/v1/", 0) != 0) continue;
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    nlohmann::json& item = paths[OpenApiPath(pattern)];
    if (!item.is_object()) item = nlohmann::json::object();
    if (!item.contains(method)) {
      item[method] = nlohmann::json{
          {"summary", "undocumented"},
          {"x-custos-undocumented", true},
          {"responses", {{"default", {{"description", "see the component's header"}}}}}};
    }
  }
  return doc;
}

void AddOpenApiRoute(http::Router& router, const std::string& api_key) {
  const http::Router* r = &router;
  router.Add("GET", "/v1/openapi.json", RequireApiKey(api_key, [r](const http::Request&) {
               return http::Response::Json(200, OpenApiDocumentFor(*r));
             }));
}

}  // namespace custos::api
