//! What a handler knows about a call that the capture layer cannot see without parsing
//! bodies: the consent it concerns, the person type, the resource status, a rejection reason,
//! error codes. The PCM wants these in `additionalInfo` (requirements §5.1).
//!
//! Two ways in, both optional and both cheap:
//!
//! * from anywhere inside a captured request (a server trait implementation sees only its
//!   `RequestContext`), [`note`] fills the facts of the call in progress; it does nothing
//!   outside one;
//! * a handler that builds its own `poem::Response` may insert a [`CallFacts`] into the
//!   response's extensions.
//!
//! When both are present the response's values win field by field.

use std::cell::RefCell;

tokio::task_local! {
    static CURRENT: RefCell<CallFacts>;
}

/// `personType`: whether the consent's holder is a person or a business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonType {
    /// Pessoa física.
    Pf,
    /// Pessoa jurídica (`data.businessEntity` present).
    Pj,
}

impl PersonType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pf => "PF",
            Self::Pj => "PJ",
        }
    }
}

/// The `additionalInfo` facts of one call. Never personal data: identifiers of consents and
/// enrollments, statuses and codes only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFacts {
    /// `consentId`: the consent the call concerns (from the response body on creation).
    pub consent_id: Option<String>,
    /// `enrollmentId`.
    pub enrollment_id: Option<String>,
    /// `personType`.
    pub person_type: Option<PersonType>,
    /// `status`: `data.status` of the resource answered.
    pub status: Option<String>,
    /// `localInstrument` of a payment.
    pub local_instrument: Option<String>,
    /// `rejectReason`: `data.rejectionReason.code`.
    pub reject_reason: Option<String>,
    /// `errorCodes`: `errors[].code` of a 4xx/5xx answer. Left empty, the capture layer reads
    /// them from the error body itself.
    pub error_codes: Option<Vec<String>>,
}

impl CallFacts {
    /// Takes every field `other` sets.
    pub fn merge(&mut self, other: CallFacts) {
        fn take<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        take(&mut self.consent_id, other.consent_id);
        take(&mut self.enrollment_id, other.enrollment_id);
        take(&mut self.person_type, other.person_type);
        take(&mut self.status, other.status);
        take(&mut self.local_instrument, other.local_instrument);
        take(&mut self.reject_reason, other.reject_reason);
        take(&mut self.error_codes, other.error_codes);
    }
}

/// Fills the facts of the captured call in progress; returns false (and does nothing) when
/// the current task is not serving a captured call.
pub fn note(fill: impl FnOnce(&mut CallFacts)) -> bool {
    CURRENT
        .try_with(|facts| fill(&mut facts.borrow_mut()))
        .is_ok()
}

/// Runs `call` with an empty set of facts in scope, and returns its output with the facts it
/// noted.
pub(crate) async fn collect<F: Future>(call: F) -> (F::Output, CallFacts) {
    CURRENT
        .scope(RefCell::new(CallFacts::default()), async move {
            let output = call.await;
            let facts = CURRENT.with(|facts| facts.take());
            (output, facts)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_reach_the_call_in_progress_only() {
        assert!(!note(|f| f.status = Some("lost".into())));
        let ((), facts) = collect(async {
            assert!(note(|f| f.consent_id = Some("urn:bank:1".into())));
            tokio::task::yield_now().await;
            assert!(note(|f| f.person_type = Some(PersonType::Pj)));
        })
        .await;
        assert_eq!(facts.consent_id.as_deref(), Some("urn:bank:1"));
        assert_eq!(facts.person_type, Some(PersonType::Pj));
        assert!(facts.status.is_none());
    }

    #[test]
    fn merging_keeps_what_the_other_side_leaves_empty() {
        let mut mine = CallFacts {
            consent_id: Some("a".into()),
            status: Some("AUTHORISED".into()),
            ..CallFacts::default()
        };
        mine.merge(CallFacts {
            status: Some("REJECTED".into()),
            reject_reason: Some("CUSTOMER_MANUALLY_REJECTED".into()),
            ..CallFacts::default()
        });
        assert_eq!(mine.consent_id.as_deref(), Some("a"));
        assert_eq!(mine.status.as_deref(), Some("REJECTED"));
        assert_eq!(
            mine.reject_reason.as_deref(),
            Some("CUSTOMER_MANUALLY_REJECTED")
        );
    }
}
