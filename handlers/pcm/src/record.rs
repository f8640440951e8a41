//! One captured call on its way from the request path to the `api_call` table, and the
//! `additionalInfo` JSON it is stored with.
//!
//! The client's IP address is personal data. It is kept because the PCM asks for `clientIp`,
//! so it is sealed at rest with the key ring (AES-256-GCM, associated data naming the column)
//! under the key `clientIpSealed`, and opened only by the reporter when it builds the report.
//! Logs and metrics never see it.

use std::net::IpAddr;
use std::sync::Arc;

use aberta_store::KeyRing;
use sea_orm::ActiveValue::{NotSet, Set};
use serde_json::{Map, Value};

use crate::entity::api_call;
use crate::facts::CallFacts;

/// The `additionalInfo` key holding the sealed client address in the table.
pub const SEALED_CLIENT_IP: &str = "clientIpSealed";
/// What the sealed address is bound to (the key ring's associated data).
pub(crate) const CLIENT_IP_COLUMN: &str = "api_call.client_ip";

/// A call as the capture layer saw it.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    pub brand: Arc<str>,
    pub interaction_id: String,
    pub endpoint: Arc<str>,
    pub family: Arc<str>,
    pub method: &'static str,
    pub status: u16,
    /// Unix milliseconds.
    pub received_at: i64,
    pub processing_ms: i32,
    pub client_org_id: Option<String>,
    pub client_ssid: Option<String>,
    pub server_org_id: Arc<str>,
    pub facts: CallFacts,
    pub client_ip: Option<IpAddr>,
}

impl CallRecord {
    /// The row to insert: unreported, due at once.
    pub fn into_row(self, keyring: &KeyRing) -> api_call::ActiveModel {
        let additional_info = additional_info(&self, keyring);
        api_call::ActiveModel {
            id: NotSet,
            brand: Set(self.brand.to_string()),
            interaction_id: Set(self.interaction_id),
            endpoint: Set(self.endpoint.to_string()),
            method: Set(self.method.to_string()),
            family: Set(self.family.to_string()),
            status_code: Set(i32::from(self.status)),
            received_at: Set(self.received_at),
            processing_ms: Set(self.processing_ms),
            client_org_id: Set(self.client_org_id),
            client_ssid: Set(self.client_ssid),
            server_org_id: Set(self.server_org_id.to_string()),
            additional_info: Set(additional_info),
            reported_at: Set(None),
            report_attempts: Set(0),
            next_attempt_at: Set(self.received_at),
            report_error: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
        }
    }
}

/// The columns a COPY of captured calls fills, in the order of [`CallRecord::copy_line`]; the
/// others take their defaults (the id, and NULL for the reporter's columns).
pub(crate) const COPY_COLUMNS: &str = "brand, interaction_id, endpoint, method, family, \
     status_code, received_at, processing_ms, client_org_id, client_ssid, server_org_id, \
     additional_info, report_attempts, next_attempt_at";

impl CallRecord {
    /// Appends the row (unreported, due at once) to `out` as a line of PostgreSQL's COPY text
    /// format, in [`COPY_COLUMNS`] order.
    pub fn copy_line(self, keyring: &KeyRing, out: &mut String) {
        use std::fmt::Write as _;
        let additional_info = additional_info(&self, keyring);
        let text = |out: &mut String, value: Option<&str>| {
            match value {
                Some(value) => copy_escape(out, value),
                None => out.push_str("\\N"),
            }
            out.push('\t');
        };
        text(out, Some(&self.brand));
        text(out, Some(&self.interaction_id));
        text(out, Some(&self.endpoint));
        text(out, Some(self.method));
        text(out, Some(&self.family));
        let _ = write!(
            out,
            "{}\t{}\t{}\t",
            self.status, self.received_at, self.processing_ms
        );
        text(out, self.client_org_id.as_deref());
        text(out, self.client_ssid.as_deref());
        text(out, Some(&self.server_org_id));
        text(out, Some(&additional_info));
        let _ = writeln!(out, "0\t{}", self.received_at);
    }
}

/// `value` in COPY text format: backslash, tab, newline and carriage return escaped.
fn copy_escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// The stored `additionalInfo`: the PCM's key names, `errorCodes` as a list (empty for an
/// error answer without codes, as the PCM asks), the client address sealed.
fn additional_info(record: &CallRecord, keyring: &KeyRing) -> String {
    let facts = &record.facts;
    let mut info = Map::new();
    let mut text = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            info.insert(key.to_string(), Value::String(value.to_string()));
        }
    };
    text("consentId", facts.consent_id.as_deref());
    text("enrollmentId", facts.enrollment_id.as_deref());
    text("personType", facts.person_type.map(|p| p.as_str()));
    text("status", facts.status.as_deref());
    text("localInstrument", facts.local_instrument.as_deref());
    text("rejectReason", facts.reject_reason.as_deref());
    if record.status >= 400 || facts.error_codes.is_some() {
        let codes = facts.error_codes.clone().unwrap_or_default();
        info.insert(
            "errorCodes".into(),
            Value::Array(codes.into_iter().map(Value::String).collect()),
        );
    }
    if let Some(ip) = record.client_ip {
        match keyring.seal(CLIENT_IP_COLUMN, &ip.to_string()) {
            Ok(sealed) => {
                info.insert(SEALED_CLIENT_IP.into(), Value::String(sealed));
            }
            Err(err) => tracing::warn!(%err, "client address not sealed; left out"),
        }
    }
    Value::Object(info).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::PersonType;

    fn record(status: u16) -> CallRecord {
        CallRecord {
            brand: "demo".into(),
            interaction_id: "d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d9".into(),
            endpoint: "/open-banking/consents/v3/consents/{consentId}".into(),
            family: "consents".into(),
            method: "GET",
            status,
            received_at: 1_700_000_000_123,
            processing_ms: 12,
            client_org_id: None,
            client_ssid: None,
            server_org_id: "74e929d9-33b6-4d85-8ba7-c146c867a817".into(),
            facts: CallFacts {
                consent_id: Some("urn:bank:1".into()),
                person_type: Some(PersonType::Pf),
                ..CallFacts::default()
            },
            client_ip: Some("203.0.113.9".parse().unwrap()),
        }
    }

    #[test]
    fn the_address_is_sealed_and_opens_again() {
        let keyring = KeyRing::generate().unwrap();
        let row = record(200).into_row(&keyring);
        let info: Value = serde_json::from_str(row.additional_info.as_ref()).unwrap();
        assert_eq!(info["consentId"], "urn:bank:1");
        assert_eq!(info["personType"], "PF");
        assert!(
            info.get("errorCodes").is_none(),
            "only error answers list codes"
        );
        assert!(info.get("clientIp").is_none());
        let sealed = info[SEALED_CLIENT_IP].as_str().unwrap();
        assert!(!sealed.contains("203.0.113"));
        assert_eq!(
            keyring.open(CLIENT_IP_COLUMN, sealed).unwrap(),
            "203.0.113.9"
        );
    }

    #[test]
    fn a_copy_line_escapes_what_copy_reads_as_syntax() {
        let keyring = KeyRing::generate().unwrap();
        let mut call = record(404);
        call.client_ip = None;
        call.client_ssid = None;
        call.interaction_id = "a\tb\\c\nd".into();
        let mut line = String::new();
        call.copy_line(&keyring, &mut line);
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );
        let fields: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
        assert_eq!(fields.len(), COPY_COLUMNS.split(',').count(), "{line:?}");
        assert_eq!(fields[1], "a\\tb\\\\c\\nd");
        assert_eq!(fields[5], "404");
        assert_eq!(fields[9], "\\N", "no software statement id");
        let info: Value = serde_json::from_str(fields[11]).unwrap();
        assert_eq!(
            info,
            serde_json::json!({"consentId": "urn:bank:1", "personType": "PF", "errorCodes": []})
        );
        assert_eq!(fields[12], "0");
        assert_eq!(fields[13], "1700000000123");
    }

    #[test]
    fn an_error_answer_lists_its_codes_even_when_there_are_none() {
        let keyring = KeyRing::generate().unwrap();
        let row = record(500).into_row(&keyring);
        let info: Value = serde_json::from_str(row.additional_info.as_ref()).unwrap();
        assert_eq!(info["errorCodes"], serde_json::json!([]));
    }
}
