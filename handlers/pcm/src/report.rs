//! From a stored call to the PCM's `ServerReportRequest` (pcm 1.0.2), and the repairs tried
//! when the PCM discards a report.
//!
//! A report is built faithfully from the row; what cannot be expressed in the 1.0.2 schema
//! is not sent and the row is refused with the reason: an endpoint outside the 1.0.2 list
//! (consents v3, payments v4 and resources v3 came after it), a method the PCM does not know,
//! a call without a client organisation. When the PCM discards a report (207), [`repair`]
//! normalises what it can (identifiers written as URNs, braced or upper case; a timespan out of
//! the int16 range; `additionalInfo` values that are not strings) and the report is sent once
//! more; otherwise it is refused with the PCM's message.

use aberta_store::KeyRing;
use chrono::DateTime;
use ofb_pcm_v1::models::{
    PrivateReportEndpoints, ServerReportRequest, ServerReportRequestHttpMethod,
    ServerReportRequestRole,
};
use serde_json::{Map, Value};

use crate::entity::api_call;
use crate::record::{CLIENT_IP_COLUMN, SEALED_CLIENT_IP};

/// Why a stored call cannot be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreportable(pub String);

/// The report for `row`, or why there cannot be one.
pub(crate) fn server_report(
    row: &api_call::Model,
    keyring: &KeyRing,
) -> Result<ServerReportRequest, Unreportable> {
    let endpoint: PrivateReportEndpoints =
        serde_json::from_value(Value::String(row.endpoint.clone())).map_err(|_| {
            Unreportable(format!(
                "endpoint {} is not in the pcm 1.0.2 list",
                row.endpoint
            ))
        })?;
    let http_method = match row.method.as_str() {
        "GET" => ServerReportRequestHttpMethod::Get,
        "POST" => ServerReportRequestHttpMethod::Post,
        "PUT" => ServerReportRequestHttpMethod::Put,
        "DELETE" => ServerReportRequestHttpMethod::Delete,
        "PATCH" => ServerReportRequestHttpMethod::Patch,
        other => return Err(Unreportable(format!("method {other} is not reportable"))),
    };
    let client_org_id = row
        .client_org_id
        .clone()
        .ok_or_else(|| Unreportable("the call has no client organisation".into()))?;
    let timestamp = DateTime::from_timestamp_millis(row.received_at)
        .ok_or_else(|| Unreportable("the receive time is out of range".into()))?
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    Ok(ServerReportRequest {
        fapi_interaction_id: row.interaction_id.clone(),
        endpoint,
        status_code: row.status_code,
        http_method,
        correlation_id: None,
        timestamp,
        process_timespan: i64::from(row.processing_ms),
        client_org_id,
        server_org_id: row.server_org_id.clone(),
        additional_info: additional_info(row, keyring),
        role: ServerReportRequestRole::Server,
    })
}

/// The stored `additionalInfo` with the client address opened; `None` when empty.
fn additional_info(row: &api_call::Model, keyring: &KeyRing) -> Option<Value> {
    let Ok(Value::Object(mut info)) = serde_json::from_str::<Value>(&row.additional_info) else {
        tracing::warn!(
            call = row.id,
            "stored additionalInfo is not a JSON object; left out"
        );
        return None;
    };
    if let Some(Value::String(sealed)) = info.remove(SEALED_CLIENT_IP) {
        match keyring.open(CLIENT_IP_COLUMN, &sealed) {
            Ok(ip) => {
                info.insert("clientIp".into(), Value::String(ip));
            }
            Err(err) => {
                tracing::warn!(call = row.id, %err, "client address does not open; left out")
            }
        }
    }
    (!info.is_empty()).then_some(Value::Object(info))
}

/// A repaired copy of a report the PCM discarded with `message`, or `None` when nothing
/// could be fixed.
pub(crate) fn repair(report: &ServerReportRequest, message: &str) -> Option<ServerReportRequest> {
    let mut fixed = report.clone();
    for id in [
        &mut fixed.fapi_interaction_id,
        &mut fixed.client_org_id,
        &mut fixed.server_org_id,
    ] {
        if let Some(canonical) = canonical_uuid(id) {
            *id = canonical;
        }
    }
    if message.contains("processTimespan") {
        fixed.process_timespan = fixed.process_timespan.clamp(0, i64::from(i16::MAX));
    }
    if let Some(Value::Object(info)) = &fixed.additional_info
        && (message.contains("additionalInfo") || info.keys().any(|key| message.contains(key)))
    {
        let strings: Map<String, Value> = info
            .iter()
            .filter_map(|(key, value)| as_text(value).map(|text| (key.clone(), text)))
            .collect();
        fixed.additional_info = (!strings.is_empty()).then_some(Value::Object(strings));
    }
    (fixed != *report).then_some(fixed)
}

/// `message` (the PCM's words about `report`) without the client address, should the PCM
/// quote it: the message is logged and stored.
pub(crate) fn redacted(report: &ServerReportRequest, message: String) -> String {
    match report
        .additional_info
        .as_ref()
        .and_then(|info| info.get("clientIp"))
        .and_then(Value::as_str)
    {
        Some(ip) if !ip.is_empty() && message.contains(ip) => message.replace(ip, "[clientIp]"),
        _ => message,
    }
}

/// A UUID however written (URN, braces, upper case, no hyphens) in the hyphenated lower-case
/// form the PCM's pattern accepts.
fn canonical_uuid(value: &str) -> Option<String> {
    uuid::Uuid::parse_str(value.trim())
        .ok()
        .map(|id| id.hyphenated().to_string())
}

/// A JSON value as the string `additionalInfo` members are; lists joined with commas.
fn as_text(value: &Value) -> Option<Value> {
    match value {
        Value::String(_) => Some(value.clone()),
        Value::Bool(_) | Value::Number(_) => Some(Value::String(value.to_string())),
        Value::Array(items) => Some(Value::String(
            items
                .iter()
                .filter_map(|item| match item {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                })
                .collect::<Vec<_>>()
                .join(","),
        )),
        Value::Null | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORG: &str = "74e929d9-33b6-4d85-8ba7-c146c867a817";
    const TPP: &str = "0f8a9c1e-5b2d-4c3a-9e7f-1a2b3c4d5e6f";

    fn row(endpoint: &str) -> api_call::Model {
        api_call::Model {
            id: 1,
            brand: "demo".into(),
            interaction_id: "d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d9".into(),
            endpoint: endpoint.into(),
            method: "GET".into(),
            family: "accounts".into(),
            status_code: 200,
            received_at: 1_768_478_400_007,
            processing_ms: 42,
            client_org_id: Some(TPP.into()),
            client_ssid: Some("ssid".into()),
            server_org_id: ORG.into(),
            additional_info: "{}".into(),
            reported_at: None,
            report_attempts: 0,
            next_attempt_at: 0,
            report_error: None,
            lease_owner: None,
            lease_until: None,
        }
    }

    #[test]
    fn a_row_becomes_a_valid_server_report() {
        let keyring = KeyRing::generate().unwrap();
        let mut r = row("/open-banking/accounts/v2/accounts/{accountId}");
        r.additional_info = json!({
            "consentId": "urn:bank:1",
            SEALED_CLIENT_IP: keyring.seal(CLIENT_IP_COLUMN, "2001:db8::1").unwrap(),
        })
        .to_string();
        let report = server_report(&r, &keyring).unwrap();
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(
            value,
            json!({
                "fapiInteractionId": "d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d9",
                "endpoint": "/open-banking/accounts/v2/accounts/{accountId}",
                "statusCode": 200,
                "httpMethod": "GET",
                "timestamp": "2026-01-15T12:00:00.007Z",
                "processTimespan": 42,
                "clientOrgId": TPP,
                "serverOrgId": ORG,
                "additionalInfo": {"consentId": "urn:bank:1", "clientIp": "2001:db8::1"},
                "role": "SERVER",
            })
        );
        let bytes = serde_json::to_vec(&report).unwrap();
        assert!(aberta_runtime::parse_json::<ServerReportRequest>(&bytes).is_ok());
    }

    #[test]
    fn what_the_schema_cannot_say_is_not_reportable() {
        let keyring = KeyRing::generate().unwrap();
        let consents = row("/open-banking/consents/v3/consents/{consentId}");
        assert!(
            server_report(&consents, &keyring)
                .unwrap_err()
                .0
                .contains("not in the pcm 1.0.2 list")
        );
        let mut anonymous = row("/token");
        anonymous.client_org_id = None;
        assert!(server_report(&anonymous, &keyring).is_err());
        let mut head = row("/token");
        head.method = "HEAD".into();
        assert!(server_report(&head, &keyring).is_err());
    }

    #[test]
    fn repairs_fix_what_can_be_normalised_and_nothing_else() {
        let keyring = KeyRing::generate().unwrap();
        let mut r = row("/token");
        r.interaction_id = "urn:uuid:D78FC4E5-37CA-4DA3-ADF2-9BD4C1A6C2D9".into();
        let report = server_report(&r, &keyring).unwrap();
        let fixed = repair(&report, "/fapiInteractionId: PARAMETRO_INVALIDO").unwrap();
        assert_eq!(
            fixed.fapi_interaction_id,
            "d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d9"
        );
        assert_eq!(
            repair(&fixed, "anything"),
            None,
            "a repaired report has nothing left to fix"
        );

        let mut r = row("/token");
        r.interaction_id = "not-a-uuid".into();
        let report = server_report(&r, &keyring).unwrap();
        assert_eq!(repair(&report, "/fapiInteractionId"), None);

        let mut r = row("/token");
        r.status_code = 150;
        let report = server_report(&r, &keyring).unwrap();
        assert_eq!(repair(&report, "/statusCode"), None);

        let mut r = row("/token");
        r.processing_ms = 40_000;
        r.additional_info = json!({"errorCodes": ["A", "B"], "x": {"y": 1}}).to_string();
        let report = server_report(&r, &keyring).unwrap();
        assert_eq!(repair(&report, "nothing named"), None);
        let fixed = repair(&report, "processTimespan and additionalInfo").unwrap();
        assert_eq!(fixed.process_timespan, 32_767);
        assert_eq!(fixed.additional_info, Some(json!({"errorCodes": "A,B"})));
        let fixed = repair(&report, "errorCodes must be a string").unwrap();
        assert_eq!(
            fixed.process_timespan, 40_000,
            "only what is named is changed"
        );
        assert_eq!(fixed.additional_info, Some(json!({"errorCodes": "A,B"})));
    }

    #[test]
    fn the_pcm_s_words_never_carry_the_client_address() {
        let keyring = KeyRing::generate().unwrap();
        let mut r = row("/token");
        r.additional_info = json!({
            SEALED_CLIENT_IP: keyring.seal(CLIENT_IP_COLUMN, "198.51.100.4").unwrap(),
        })
        .to_string();
        let report = server_report(&r, &keyring).unwrap();
        assert_eq!(
            redacted(&report, "clientIp 198.51.100.4 is not allowed".into()),
            "clientIp [clientIp] is not allowed"
        );
        assert_eq!(redacted(&report, "other".into()), "other");
    }
}
