//! `Retry-After` on the payments routes' 429 answers. The generated response types carry a
//! body only for a status the spec does not list (payments 4.0.0 lists no 429), so a handler
//! that answers 429 tells [`retry_after`] how long to wait, and [`routes`] (the generated
//! routes wrapped in that scope) writes the header.

use std::cell::Cell;
use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, EndpointExt, IntoEndpoint};

use crate::api::PaymentsService;
use crate::codec::PaymentsCodec;

/// The wait of a 429 whose handler named none.
const DEFAULT_RETRY_AFTER_S: u64 = 1;

tokio::task_local! {
    /// The wait the handler of the current request asked for.
    static RETRY_AFTER: Cell<Option<u64>>;
}

/// Asks for `Retry-After: seconds` (at least 1) on this request's 429 answer. Outside
/// [`routes`] it does nothing.
pub fn retry_after(seconds: u64) {
    let _ = RETRY_AFTER.try_with(|wait| wait.set(Some(seconds.max(1))));
}

/// Wraps `endpoint` so that its 429 answers carry `Retry-After`: the wait its handler asked
/// for with [`retry_after`], else one second.
pub fn with_retry_after<E>(endpoint: E) -> impl Endpoint<Output = poem::Response>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    endpoint
        .into_endpoint()
        .map_to_response()
        .around(|inner, req| async move {
            let (answer, asked) = RETRY_AFTER
                .scope(Cell::new(None), async move {
                    let answer = inner.call(req).await;
                    (answer, RETRY_AFTER.with(Cell::get))
                })
                .await;
            let mut answer = answer?;
            if answer.status() == StatusCode::TOO_MANY_REQUESTS
                && !answer.headers().contains_key(header::RETRY_AFTER)
            {
                let seconds = asked.unwrap_or(DEFAULT_RETRY_AFTER_S);
                answer
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            Ok(answer)
        })
}

/// The payments 4.0.0 routes (the generated ones, under their base path) over `service`,
/// with `Retry-After` on their 429 answers.
pub fn routes(
    service: Arc<PaymentsService>,
    codec: Arc<PaymentsCodec>,
) -> impl Endpoint<Output = poem::Response> {
    with_retry_after(ofb_payments_v4::server::routes(service, codec))
}
