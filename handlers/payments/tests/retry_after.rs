//! `Retry-After` on the 429 answers of the payments routes: the wait a handler asks for, one
//! second when it asks for none, and other answers untouched.

use aberta_payments::api::retry_after_s;
use aberta_payments::retry::{retry_after, with_retry_after};
use poem::http::StatusCode;
use poem::{Endpoint, Request, Route, get, handler};

#[handler]
fn in_flight() -> StatusCode {
    retry_after(7);
    StatusCode::TOO_MANY_REQUESTS
}

#[handler]
fn silent_429() -> StatusCode {
    StatusCode::TOO_MANY_REQUESTS
}

#[handler]
fn asked_but_answered() -> StatusCode {
    retry_after(7);
    StatusCode::CREATED
}

#[handler]
fn own_header() -> poem::Response {
    poem::Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header("retry-after", "42")
        .finish()
}

#[tokio::test]
async fn a_429_of_the_payments_routes_carries_retry_after() {
    let app = with_retry_after(
        Route::new()
            .at("/in-flight", get(in_flight))
            .at("/silent", get(silent_429))
            .at("/created", get(asked_but_answered))
            .at("/own", get(own_header)),
    );
    let call = async |path: &str| {
        let answer = app
            .call(Request::builder().uri_str(path).finish())
            .await
            .unwrap();
        let header = answer
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (answer.status(), header)
    };
    assert_eq!(
        call("/in-flight").await,
        (StatusCode::TOO_MANY_REQUESTS, Some("7".into()))
    );
    assert_eq!(
        call("/silent").await,
        (StatusCode::TOO_MANY_REQUESTS, Some("1".into()))
    );
    assert_eq!(call("/created").await, (StatusCode::CREATED, None));
    assert_eq!(
        call("/own").await,
        (StatusCode::TOO_MANY_REQUESTS, Some("42".into()))
    );
    // Outside the routes' scope, asking does nothing (and does not panic).
    retry_after(3);
}

#[test]
fn the_wait_runs_to_the_recovery_of_an_interrupted_request_and_is_never_zero() {
    let now = 1_800_000_000;
    // Just claimed: until the recovery would take it (30 s), plus a sweep.
    assert_eq!(retry_after_s(now, now), 31);
    assert_eq!(retry_after_s(now - 29, now), 2);
    // Due or overdue (the bank does not answer the recovery): a few seconds.
    assert_eq!(retry_after_s(now - 30, now), 5);
    assert_eq!(retry_after_s(now - 3_600, now), 5);
    // A claim stamped ahead of this clock never asks for more than the delay and a sweep.
    assert_eq!(retry_after_s(now + 5, now), 31);
}
