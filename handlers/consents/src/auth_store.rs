//! [`Consents`] as the authorization server's consent store: what the consent portal reads,
//! authorises and rejects.

use aberta_auth::AuthError;
use aberta_auth::consent::{ConsentStore, ConsentView, Refusal};
use aberta_auth::identity::EndUser;
use async_trait::async_trait;

use crate::core::{Consents, as_view};
use crate::state::Action;

#[async_trait]
impl ConsentStore for Consents {
    async fn consent(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<ConsentView>, AuthError> {
        Ok(self.get(brand, consent_id).await?.map(|r| as_view(&r)))
    }

    async fn authorise(
        &self,
        brand: &str,
        consent_id: &str,
        user: &EndUser,
        accounts: &[String],
    ) -> Result<Result<(), Refusal>, AuthError> {
        Ok(self
            .authorise_for(brand, consent_id, user, accounts)
            .await?)
    }

    async fn reject(&self, brand: &str, consent_id: &str) -> Result<(), AuthError> {
        // Only an unconfirmed consent can be declined; anything else is left as it is.
        let outcome = self
            .act(brand, consent_id, Action::UserReject, "USER")
            .await?;
        if let Some(Err(refusal)) = outcome {
            tracing::info!(consent_id, ?refusal, "nothing to reject");
        }
        Ok(())
    }
}
