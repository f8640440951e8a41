//! `GET /participants`: the registry as the generated participants 1.0.0 model shapes it.

use aberta_runtime::RequestContext;
use aberta_runtime::payload::Json;
use ofb_participants_v1::models::OrganisationsExportOpenData;
use ofb_participants_v1::server::{
    GetParticipantsRequest, GetParticipantsResponse, ParticipantsApi,
};
use serde_json::{Value, json};

use crate::error::{EcosystemError, Result};
use crate::registry::{Organisation, Registry};

pub(super) struct ParticipantsService {
    registry: Registry,
}

impl ParticipantsService {
    pub(super) fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

#[aberta_runtime::reexport::async_trait]
impl ParticipantsApi for ParticipantsService {
    async fn get_participants(
        &self,
        _ctx: RequestContext,
        _request: GetParticipantsRequest,
    ) -> GetParticipantsResponse {
        match export(&self.registry) {
            Ok(list) => GetParticipantsResponse::Ok(Json(list)),
            Err(err) => {
                tracing::error!(%err, "participants export failed");
                GetParticipantsResponse::InternalServerError
            }
        }
    }
}

/// Every organisation, built as JSON and parsed (with every constraint checked) into the
/// generated model, so the payload cannot drift from the spec.
pub(crate) fn export(registry: &Registry) -> Result<OrganisationsExportOpenData> {
    let orgs: Vec<Value> = registry
        .organisations()?
        .iter()
        .map(organisation_json)
        .collect();
    aberta_runtime::validate::from_value(Value::Array(orgs))
        .map_err(|v| EcosystemError::Invalid(format!("participants payload: {v}")))
}

fn organisation_json(org: &Organisation) -> Value {
    let servers: Vec<Value> = org
        .authorisation_servers
        .iter()
        .map(|server| {
            let server_id = server.server_id.clone().unwrap_or_default();
            let resources: Vec<Value> = server
                .api_resources
                .iter()
                .enumerate()
                .map(|(i, res)| {
                    json!({
                        "ApiResourceId": format!("{}-{}", &server_id[..server_id.len().min(30)], i),
                        "ApiFamilyType": res.family,
                        "ApiVersion": res.version,
                        "ApiDiscoveryEndpoints": res.endpoints.iter().enumerate().map(|(j, url)| json!({
                            "ApiDiscoveryId": format!("{i}-{j}"),
                            "ApiEndpoint": url,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "AuthorisationServerId": server_id,
                "OrganisationId": org.org_id,
                "AutoRegistrationSupported": true,
                "CustomerFriendlyName": server.name,
                "CustomerFriendlyDescription": server.name,
                "OpenIDDiscoveryDocument": server.discovery_url,
                "ApiResources": resources,
            })
        })
        .collect();
    let role_claims: Vec<Value> = org
        .roles
        .iter()
        .map(|role| {
            json!({
                "Status": "Active",
                "AuthorisationDomain": "Open Banking",
                "Role": role,
                "RegistrationId": format!("{}-OBB-{}", &org.cnpj[..8.min(org.cnpj.len())], role),
                "Authorisations": [],
            })
        })
        .collect();
    json!({
        "OrganisationId": org.org_id,
        "Status": org.status,
        "OrganisationName": org.name,
        "CreatedOn": org.created_on,
        "LegalEntityName": org.name,
        "CountryOfRegistration": "BR",
        "CompanyRegister": "Cadastro Nacional da Pessoa Jurídica",
        "RegistrationNumber": org.cnpj,
        "RegisteredName": org.name,
        "Country": "BR",
        "AuthorisationServers": servers,
        "OrgDomainClaims": [{
            "AuthorisationDomainName": "Open Banking",
            "AuthorityName": "Banco Central do Brasil",
            "RegistrationId": org.cnpj,
            "Status": "Active",
        }],
        "OrgDomainRoleClaims": role_claims,
    })
}
