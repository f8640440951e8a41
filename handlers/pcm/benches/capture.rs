//! The capture layer's cost per request: the same in-process poem application (a regulated
//! route behind the interaction-id middleware, as the platform serves it) called with and
//! without [`Capture`], for a 200 answer, a 404 with a JSON error body (read for its codes),
//! and a path that matches no regulated template. The sink throws records away, so what is
//! measured is the request path alone; the writer's batched inserts run off it. Also the
//! template lookup alone. Run with `cargo bench -p aberta-pcm --bench capture`.

use std::sync::Arc;

use aberta_pcm::{Capture, CaptureConfig, CaptureSink, EndpointMatcher, PcmMetrics};
use aberta_runtime::context::{CertSubject, ClientCert};
use criterion::{Criterion, criterion_group, criterion_main};
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};

const HOLDER: &str = "74e929d9-33b6-4d85-8ba7-c146c867a817";
const TPP: &str = "0f8a9c1e-5b2d-4c3a-9e7f-1a2b3c4d5e6f";

#[handler]
fn account() -> Response {
    Response::builder()
        .content_type("application/json")
        .body(r#"{"data":{"accountId":"a"},"links":{},"meta":{}}"#)
}

#[handler]
fn missing() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .content_type("application/json")
        .body(r#"{"errors":[{"code":"NAO_ENCONTRADO","title":"t","detail":"d"}],"meta":{}}"#)
}

async fn interaction<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let id = uuid::Uuid::new_v4().to_string();
    let mut resp = next.call(req).await?.into_response();
    if let Ok(value) = id.parse() {
        resp.headers_mut().insert("x-fapi-interaction-id", value);
    }
    Ok(resp)
}

fn routes() -> Route {
    Route::new()
        .at(
            "/open-banking/accounts/v2/accounts/:accountId",
            get(account),
        )
        .at(
            "/open-banking/accounts/v2/accounts/:accountId/balances",
            get(missing),
        )
        .at("/portal/login", get(account))
}

fn plain() -> BoxEndpoint<'static> {
    routes().around(interaction).boxed()
}

fn captured(sink: CaptureSink) -> BoxEndpoint<'static> {
    routes()
        .around(interaction)
        .with(Capture::new(
            Arc::new(EndpointMatcher::regulated()),
            sink,
            CaptureConfig::single("demo", HOLDER),
        ))
        .boxed()
}

fn request(path: &str) -> Request {
    Request::builder()
        .uri_str(path)
        .header("host", "127.0.0.1:8443")
        .extension(ClientCert {
            der: Arc::from(&b"certificate"[..]),
            thumbprint: "thumbprint".into(),
            subject: Some(CertSubject {
                software_id: "b7c2c3a4-9f0e-4f4e-8a55-0f6a2d1f3c11".into(),
                org_id: TPP.into(),
            }),
        })
        .finish()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Arc::new(PcmMetrics::default());
    let sink = rt.block_on(async { CaptureSink::discarding(metrics.clone()) });
    let plain = plain();
    let captured = captured(sink);

    let cases = [
        ("200", "/open-banking/accounts/v2/accounts/acc-1"),
        (
            "404_error_body",
            "/open-banking/accounts/v2/accounts/acc-1/balances",
        ),
        ("unregulated", "/portal/login"),
    ];
    for (name, path) in cases {
        let mut group = c.benchmark_group(format!("request_{name}"));
        group.bench_function("without_capture", |b| {
            b.to_async(&rt).iter(|| plain.get_response(request(path)))
        });
        group.bench_function("with_capture", |b| {
            b.to_async(&rt)
                .iter(|| captured.get_response(request(path)))
        });
        group.finish();
    }

    let matcher = EndpointMatcher::regulated();
    c.bench_function("template_lookup", |b| {
        b.iter(|| {
            matcher
                .find(std::hint::black_box(
                    "/open-banking/credit-cards-accounts/v2/accounts/cc-1/bills/b-2/transactions",
                ))
                .is_some()
        })
    });
    let counted = metrics.snapshot();
    eprintln!(
        "captured {} calls, dropped {} (a full queue drops instead of waiting)",
        counted.captured, counted.dropped
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
