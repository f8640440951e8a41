//! Test support shared by the conformance tests: one PS256 key pair that can play the server's
//! codec and the client's signer.

use aberta_runtime::RequestContext;
use aberta_runtime::client::ClientJws;
use aberta_runtime::jws::{JwsCodec, JwsError};
use josekit::jws::{JwsHeader, PS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::Value;

/// One PS256 key pair playing both sides.
pub struct Keys {
    signer: josekit::jws::alg::rsassa_pss::RsassaPssJwsSigner,
    verifier: josekit::jws::alg::rsassa_pss::RsassaPssJwsVerifier,
}

impl Keys {
    pub fn new() -> Self {
        let pair = PS256.generate_key_pair(2048).unwrap();
        Self {
            signer: PS256.signer_from_der(pair.to_der_private_key()).unwrap(),
            verifier: PS256.verifier_from_der(pair.to_der_public_key()).unwrap(),
        }
    }

    pub fn sign(&self, payload: Value) -> Result<String, String> {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        let payload = JwtPayload::from_map(payload.as_object().cloned().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        jwt::encode_with_signer(&payload, &header, &self.signer).map_err(|e| e.to_string())
    }

    pub fn verify(&self, compact: &str) -> Result<Value, String> {
        let (payload, _) =
            jwt::decode_with_verifier(compact, &self.verifier).map_err(|e| e.to_string())?;
        Ok(Value::Object(payload.claims_set().clone()))
    }
}

#[aberta_runtime::reexport::async_trait]
impl JwsCodec for Keys {
    async fn verify(&self, _: &RequestContext, compact: &str) -> Result<Value, JwsError> {
        Keys::verify(self, compact).map_err(JwsError::BadSignature)
    }

    fn sign(&self, _: &RequestContext, payload: Value) -> Result<String, JwsError> {
        Keys::sign(self, payload).map_err(JwsError::Signing)
    }
}

impl ClientJws for Keys {
    fn sign(&self, _: &str, payload: Value) -> Result<String, String> {
        Keys::sign(self, payload)
    }

    fn verify(&self, _: &str, compact: &str) -> Result<Value, String> {
        Keys::verify(self, compact)
    }
}
