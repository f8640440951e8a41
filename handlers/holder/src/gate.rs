//! The data resource servers read consents through [`aberta_data::ConsentGate`]; this adapts
//! the consents module to it.

use std::sync::Arc;

use aberta_consents::Consents;
use aberta_data::{ConsentGate, DataConsent, DataError, LinkedResource};
use async_trait::async_trait;

/// Consents as the resource servers see them.
#[derive(Clone)]
pub struct ConsentsGate(pub Arc<Consents>);

#[async_trait]
impl ConsentGate for ConsentsGate {
    async fn consent(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<DataConsent>, DataError> {
        let grant = self
            .0
            .grant_view(brand, consent_id)
            .await
            .map_err(|err| DataError::Consent(err.to_string()))?;
        Ok(grant.map(|g| DataConsent {
            consent_id: g.consent_id,
            client_id: g.client_id,
            status: g.status,
            expires_at: g.expires_at,
            permissions: g.permissions,
            customer_cpf: g.customer_cpf,
            business_cnpj: g.business_cnpj,
            resources: g
                .resources
                .into_iter()
                .map(|r| LinkedResource {
                    resource_id: r.resource_id,
                    resource_type: r.resource_type,
                    status: r.status,
                })
                .collect(),
        }))
    }
}
