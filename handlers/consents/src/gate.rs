//! The data resource servers read consents through [`aberta_data::ConsentGate`].

use aberta_data::{ConsentGate, DataConsent, DataError};
use async_trait::async_trait;

use crate::core::Consents;

#[async_trait]
impl ConsentGate for Consents {
    async fn consent(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<DataConsent>, DataError> {
        self.grant_view(brand, consent_id)
            .await
            .map_err(|err| DataError::Consent(err.to_string()))
    }
}
