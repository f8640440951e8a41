//! The consent life cycle of consents 3.3.1 as a pure state machine: given a consent's
//! snapshot, an action and the time, it decides the transition (or the refusal). Storage
//! applies what it decides; nothing here does I/O.

use serde::{Deserialize, Serialize};

/// `ResponseConsentRead/data/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    AwaitingAuthorisation,
    Authorised,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingAuthorisation => "AWAITING_AUTHORISATION",
            Self::Authorised => "AUTHORISED",
            Self::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "AWAITING_AUTHORISATION" => Self::AwaitingAuthorisation,
            "AUTHORISED" => Self::Authorised,
            "REJECTED" => Self::Rejected,
            _ => return None,
        })
    }
}

/// `EnumRejectedBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectedBy {
    User,
    Aspsp,
    Tpp,
}

impl RejectedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Aspsp => "ASPSP",
            Self::Tpp => "TPP",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "USER" => Self::User,
            "ASPSP" => Self::Aspsp,
            "TPP" => Self::Tpp,
            _ => return None,
        })
    }
}

/// `ResponseConsentRead/data/rejection/reason/code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectionReason {
    ConsentExpired,
    CustomerManuallyRejected,
    CustomerManuallyRevoked,
    ConsentMaxDateReached,
    ConsentTechnicalIssue,
    InternalSecurityReason,
}

impl RejectionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsentExpired => "CONSENT_EXPIRED",
            Self::CustomerManuallyRejected => "CUSTOMER_MANUALLY_REJECTED",
            Self::CustomerManuallyRevoked => "CUSTOMER_MANUALLY_REVOKED",
            Self::ConsentMaxDateReached => "CONSENT_MAX_DATE_REACHED",
            Self::ConsentTechnicalIssue => "CONSENT_TECHNICAL_ISSUE",
            Self::InternalSecurityReason => "INTERNAL_SECURITY_REASON",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CONSENT_EXPIRED" => Self::ConsentExpired,
            "CUSTOMER_MANUALLY_REJECTED" => Self::CustomerManuallyRejected,
            "CUSTOMER_MANUALLY_REVOKED" => Self::CustomerManuallyRevoked,
            "CONSENT_MAX_DATE_REACHED" => Self::ConsentMaxDateReached,
            "CONSENT_TECHNICAL_ISSUE" => Self::ConsentTechnicalIssue,
            "INTERNAL_SECURITY_REASON" => Self::InternalSecurityReason,
            _ => return None,
        })
    }
}

/// Who rejected a consent and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub by: RejectedBy,
    pub reason: RejectionReason,
}

/// What the machine needs to know about a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub status: Status,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` for a consent without an end date.
    pub expires_at: Option<i64>,
}

/// Something that asks a consent to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The customer confirmed it at the portal.
    Authorise,
    /// The customer declined it at the portal.
    UserReject,
    /// `DELETE /consents/{consentId}` by the receiving institution, for the customer.
    Delete,
    /// The customer revoked it in the bank's own channels.
    UserRevoke,
    /// The bank revoked it for a security reason.
    BankRevoke,
    /// `POST /consents/{consentId}/extends` with the new end date (`None`: no end date).
    Extend { expires_at: Option<i64> },
}

/// Why an action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Authorising or declining needs `AWAITING_AUTHORISATION`.
    NotAwaiting,
    /// Already `REJECTED`: final.
    AlreadyRejected,
    /// Extending needs `AUTHORISED`.
    NotAuthorised,
    /// The new end date is not after the current one, or not in the future.
    InvalidExpiry,
}

/// Outbox event types (topic `consents`).
pub mod event {
    pub const CREATED: &str = "consent.created";
    pub const AUTHORISED: &str = "consent.authorised";
    pub const REJECTED: &str = "consent.rejected";
    pub const REVOKED: &str = "consent.revoked";
    pub const EXPIRED: &str = "consent.expired";
    pub const EXTENDED: &str = "consent.extended";
}

/// A decided change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
    pub rejection: Option<Rejection>,
    /// The new end date, for an extension.
    pub extend_to: Option<Option<i64>>,
    pub event: &'static str,
}

impl Transition {
    fn reject(from: Status, by: RejectedBy, reason: RejectionReason, event: &'static str) -> Self {
        Self {
            from,
            to: Status::Rejected,
            rejection: Some(Rejection { by, reason }),
            extend_to: None,
            event,
        }
    }
}

/// The expiry the clock alone causes at `now`, if any: an unconfirmed consent after
/// `authorisation_timeout` seconds, or any live consent at its end date.
pub fn expiry_due(s: &Snapshot, now: i64, authorisation_timeout: i64) -> Option<Transition> {
    let past_end = s.expires_at.is_some_and(|end| now >= end);
    match s.status {
        Status::AwaitingAuthorisation if now >= s.created_at + authorisation_timeout => {
            Some(Transition::reject(
                s.status,
                RejectedBy::Aspsp,
                RejectionReason::ConsentExpired,
                event::EXPIRED,
            ))
        }
        Status::AwaitingAuthorisation | Status::Authorised if past_end => Some(Transition::reject(
            s.status,
            RejectedBy::Aspsp,
            RejectionReason::ConsentMaxDateReached,
            event::EXPIRED,
        )),
        _ => None,
    }
}

/// Decides `action` on a consent whose due expiry (see [`expiry_due`]) was already applied.
pub fn decide(s: &Snapshot, action: Action, now: i64) -> Result<Transition, Refusal> {
    use Status::*;
    match (action, s.status) {
        (_, Rejected) => match action {
            Action::Authorise | Action::UserReject => Err(Refusal::NotAwaiting),
            Action::Extend { .. } => Err(Refusal::NotAuthorised),
            _ => Err(Refusal::AlreadyRejected),
        },
        (Action::Authorise, AwaitingAuthorisation) => Ok(Transition {
            from: s.status,
            to: Authorised,
            rejection: None,
            extend_to: None,
            event: event::AUTHORISED,
        }),
        (Action::Authorise | Action::UserReject, Authorised) => Err(Refusal::NotAwaiting),
        (Action::UserReject | Action::Delete | Action::UserRevoke, AwaitingAuthorisation) => {
            Ok(Transition::reject(
                s.status,
                RejectedBy::User,
                RejectionReason::CustomerManuallyRejected,
                event::REJECTED,
            ))
        }
        (Action::Delete | Action::UserRevoke, Authorised) => Ok(Transition::reject(
            s.status,
            RejectedBy::User,
            RejectionReason::CustomerManuallyRevoked,
            event::REVOKED,
        )),
        (Action::BankRevoke, AwaitingAuthorisation) => Ok(Transition::reject(
            s.status,
            RejectedBy::Aspsp,
            RejectionReason::InternalSecurityReason,
            event::REJECTED,
        )),
        (Action::BankRevoke, Authorised) => Ok(Transition::reject(
            s.status,
            RejectedBy::Aspsp,
            RejectionReason::InternalSecurityReason,
            event::REVOKED,
        )),
        (Action::Extend { .. }, AwaitingAuthorisation) => Err(Refusal::NotAuthorised),
        (Action::Extend { expires_at }, Authorised) => {
            if !extends_validly(s.expires_at, expires_at, now) {
                return Err(Refusal::InvalidExpiry);
            }
            Ok(Transition {
                from: Authorised,
                to: Authorised,
                rejection: None,
                extend_to: Some(expires_at),
                event: event::EXTENDED,
            })
        }
    }
}

/// A new end date must lie in the future and after the current one; no end date is later than
/// any date, and cannot be extended further.
fn extends_validly(current: Option<i64>, new: Option<i64>, now: i64) -> bool {
    match (current, new) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(current), Some(new)) => new > now && new > current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;
    const HOUR: i64 = 3600;

    fn snap(status: Status, expires_at: Option<i64>) -> Snapshot {
        Snapshot {
            status,
            created_at: T0,
            expires_at,
        }
    }

    const ALL_ACTIONS: [Action; 7] = [
        Action::Authorise,
        Action::UserReject,
        Action::Delete,
        Action::UserRevoke,
        Action::BankRevoke,
        Action::Extend { expires_at: None },
        Action::Extend {
            expires_at: Some(T0 + 400 * 24 * HOUR),
        },
    ];

    #[test]
    fn awaiting_expires_after_sixty_minutes_exactly() {
        let s = snap(Status::AwaitingAuthorisation, Some(T0 + 30 * 24 * HOUR));
        assert_eq!(expiry_due(&s, T0 + HOUR - 1, HOUR), None);
        let t = expiry_due(&s, T0 + HOUR, HOUR).unwrap();
        assert_eq!(t.to, Status::Rejected);
        assert_eq!(
            t.rejection,
            Some(Rejection {
                by: RejectedBy::Aspsp,
                reason: RejectionReason::ConsentExpired
            })
        );
        assert_eq!(t.event, event::EXPIRED);
    }

    #[test]
    fn authorised_expires_at_its_end_date() {
        let end = T0 + 10 * 24 * HOUR;
        let s = snap(Status::Authorised, Some(end));
        assert_eq!(expiry_due(&s, end - 1, HOUR), None);
        let t = expiry_due(&s, end, HOUR).unwrap();
        assert_eq!(t.from, Status::Authorised);
        assert_eq!(
            t.rejection.unwrap().reason,
            RejectionReason::ConsentMaxDateReached
        );
        assert_eq!(t.rejection.unwrap().by, RejectedBy::Aspsp);
    }

    #[test]
    fn awaiting_past_its_end_date_before_the_timeout_expires_too() {
        let s = snap(Status::AwaitingAuthorisation, Some(T0 + 60));
        assert_eq!(
            expiry_due(&s, T0 + 60, HOUR)
                .unwrap()
                .rejection
                .unwrap()
                .reason,
            RejectionReason::ConsentMaxDateReached
        );
    }

    #[test]
    fn no_end_date_and_rejected_never_expire() {
        let far = T0 + 100 * 365 * 24 * HOUR;
        assert_eq!(expiry_due(&snap(Status::Authorised, None), far, HOUR), None);
        assert_eq!(
            expiry_due(&snap(Status::Rejected, Some(T0)), far, HOUR),
            None
        );
    }

    #[test]
    fn every_action_from_every_state() {
        use Action as A;
        use Status as S;
        let now = T0 + 60;
        let end = Some(T0 + 30 * 24 * HOUR);
        for action in ALL_ACTIONS {
            for status in [S::AwaitingAuthorisation, S::Authorised, S::Rejected] {
                let got = decide(&snap(status, end), action, now);
                let expected: Result<(S, Option<(RejectedBy, RejectionReason)>), Refusal> =
                    match (status, action) {
                        (S::Rejected, A::Authorise | A::UserReject) => Err(Refusal::NotAwaiting),
                        (S::Rejected, A::Extend { .. }) => Err(Refusal::NotAuthorised),
                        (S::Rejected, _) => Err(Refusal::AlreadyRejected),
                        (S::AwaitingAuthorisation, A::Authorise) => Ok((S::Authorised, None)),
                        (S::AwaitingAuthorisation, A::UserReject | A::Delete | A::UserRevoke) => {
                            Ok((
                                S::Rejected,
                                Some((RejectedBy::User, RejectionReason::CustomerManuallyRejected)),
                            ))
                        }
                        (S::AwaitingAuthorisation | S::Authorised, A::BankRevoke) => Ok((
                            S::Rejected,
                            Some((RejectedBy::Aspsp, RejectionReason::InternalSecurityReason)),
                        )),
                        (S::AwaitingAuthorisation, A::Extend { .. }) => Err(Refusal::NotAuthorised),
                        (S::Authorised, A::Authorise | A::UserReject) => Err(Refusal::NotAwaiting),
                        (S::Authorised, A::Delete | A::UserRevoke) => Ok((
                            S::Rejected,
                            Some((RejectedBy::User, RejectionReason::CustomerManuallyRevoked)),
                        )),
                        (S::Authorised, A::Extend { .. }) => Ok((S::Authorised, None)),
                    };
                let got = got.map(|t| (t.to, t.rejection.map(|r| (r.by, r.reason))));
                assert_eq!(got, expected, "{status:?} {action:?}");
            }
        }
    }

    #[test]
    fn revocation_events_tell_rejection_from_revocation() {
        let now = T0 + 60;
        let awaiting = snap(Status::AwaitingAuthorisation, None);
        let authorised = snap(Status::Authorised, None);
        assert_eq!(
            decide(&awaiting, Action::Delete, now).unwrap().event,
            event::REJECTED
        );
        assert_eq!(
            decide(&authorised, Action::Delete, now).unwrap().event,
            event::REVOKED
        );
        assert_eq!(
            decide(&awaiting, Action::Authorise, now).unwrap().event,
            event::AUTHORISED
        );
    }

    #[test]
    fn extension_dates() {
        let now = T0 + 60;
        let end = T0 + 10 * 24 * HOUR;
        let s = snap(Status::Authorised, Some(end));
        let extend = |to| decide(&s, Action::Extend { expires_at: to }, now);
        assert_eq!(extend(Some(end)), Err(Refusal::InvalidExpiry));
        assert_eq!(extend(Some(end - 1)), Err(Refusal::InvalidExpiry));
        assert_eq!(extend(Some(now - 1)), Err(Refusal::InvalidExpiry));
        let t = extend(Some(end + 1)).unwrap();
        assert_eq!(t.extend_to, Some(Some(end + 1)));
        assert_eq!(t.event, event::EXTENDED);
        assert_eq!(extend(None).unwrap().extend_to, Some(None));
        let open_ended = snap(Status::Authorised, None);
        assert_eq!(
            decide(&open_ended, Action::Extend { expires_at: None }, now),
            Err(Refusal::InvalidExpiry)
        );
        assert_eq!(
            decide(
                &open_ended,
                Action::Extend {
                    expires_at: Some(end)
                },
                now
            ),
            Err(Refusal::InvalidExpiry)
        );
    }

    #[test]
    fn names_round_trip() {
        for s in [
            Status::AwaitingAuthorisation,
            Status::Authorised,
            Status::Rejected,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for b in [RejectedBy::User, RejectedBy::Aspsp, RejectedBy::Tpp] {
            assert_eq!(RejectedBy::parse(b.as_str()), Some(b));
        }
        for r in [
            RejectionReason::ConsentExpired,
            RejectionReason::CustomerManuallyRejected,
            RejectionReason::CustomerManuallyRevoked,
            RejectionReason::ConsentMaxDateReached,
            RejectionReason::ConsentTechnicalIssue,
            RejectionReason::InternalSecurityReason,
        ] {
            assert_eq!(RejectionReason::parse(r.as_str()), Some(r));
        }
    }
}
