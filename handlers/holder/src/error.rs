//! The one error type of the composition.

#[derive(Debug, thiserror::Error)]
pub enum HolderError {
    #[error(transparent)]
    Auth(#[from] aberta_auth::AuthError),
    #[error(transparent)]
    Ecosystem(#[from] aberta_ecosystem::EcosystemError),
    #[error(transparent)]
    Store(#[from] aberta_store::StoreError),
    #[error(transparent)]
    Consents(#[from] aberta_consents::ConsentsError),
    #[error(transparent)]
    Data(#[from] aberta_data::DataError),
    #[error(transparent)]
    Bank(#[from] aberta_demo_bank::DemoError),
    #[error(transparent)]
    Payments(#[from] aberta_payments::PaymentsError),
    #[error(transparent)]
    Webhooks(#[from] aberta_webhooks::WebhooksError),
    #[error(transparent)]
    Events(#[from] aberta_events::EventsError),
    #[error(transparent)]
    Status(#[from] aberta_status::StatusError),
    #[error(transparent)]
    Pcm(#[from] aberta_pcm::PcmError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
