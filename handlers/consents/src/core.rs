//! [`Consents`]: storage of consents and every change to them. Each change is one transaction
//! holding the conditional update (so two instances cannot both make it), the history row and
//! the outbox event. Expiry is applied lazily whenever a consent is read, and by
//! [`Consents::sweep_expired`].

use std::sync::Arc;

use aberta_runtime::connector::{ConnectorContext, PageRequest};
use aberta_runtime::shared::{Cnpj, Cpf};
use aberta_store::outbox::{self, NewEvent};
use aberta_store::{KeyRing, Store};
use ofb_resources_v3::connector::{ResourcesConnector, ResourcesGetResourcesInput};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IntoActiveModel, JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    RelationDef, TransactionTrait,
};
use serde_json::json;

use crate::config::ConsentsConfig;
use crate::entity::{consent, extension, history, resource};
use crate::error::ConsentsError;
use crate::permissions::resource_type_of;
use crate::records::{
    ConsentGrant, ConsentRecord, ExtensionRecord, HistoryRecord, LinkedResource, NewConsent,
    NewExtension,
};
use crate::state::{
    self, Action, Refusal, RejectedBy, Rejection, RejectionReason, Snapshot, Status, Transition,
};

pub(crate) const CPF_COLUMN: &str = "consents_consent.logged_user_cpf";
pub(crate) const CNPJ_COLUMN: &str = "consents_consent.business_cnpj";
const EXTENSION_CPF_COLUMN: &str = "consents_extension.logged_user_cpf";
const EXTENSION_IP_COLUMN: &str = "consents_extension.customer_ip";

/// Actor of the changes the clock makes.
pub const CLOCK: &str = "CLOCK";

/// How many resources the connector is asked for per page when linking them.
const RESOURCE_PAGE_SIZE: u32 = 1000;
/// A bound on connector pages, against a backend that never says it is done.
const MAX_RESOURCE_PAGES: u32 = 100;
/// Expired consents handled per sweep query.
const SWEEP_BATCH: u64 = 200;

/// The consents of every brand of this installation.
pub struct Consents {
    store: Store,
    keyring: Arc<KeyRing>,
    resources: Arc<dyn ResourcesConnector>,
    config: ConsentsConfig,
}

impl std::fmt::Debug for Consents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consents")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Writes that ride along with a transition.
enum Extra {
    None,
    Authorise {
        accounts: String,
        resources: Vec<LinkedResource>,
    },
    Extension(Box<extension::ActiveModel>),
}

impl Consents {
    /// Migrates the module's tables and returns the shared handle.
    pub async fn new(
        store: Store,
        keyring: Arc<KeyRing>,
        resources: Arc<dyn ResourcesConnector>,
        config: ConsentsConfig,
    ) -> Result<Arc<Self>, ConsentsError> {
        migrate(store.connection()).await?;
        Ok(Arc::new(Self {
            store,
            keyring,
            resources,
            config,
        }))
    }

    pub fn config(&self) -> &ConsentsConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Unix seconds, from the configured clock.
    pub fn now(&self) -> i64 {
        self.config.clock.now()
    }

    fn db(&self) -> &DatabaseConnection {
        self.store.connection()
    }

    /// Stores a new consent awaiting authorisation, with its history row and
    /// `consent.created` event.
    pub async fn create(
        &self,
        brand: &str,
        new: NewConsent,
    ) -> Result<ConsentRecord, ConsentsError> {
        let now = self.now();
        let consent_id = new_consent_id(brand);
        let row = consent::Model {
            consent_id: consent_id.clone(),
            brand: brand.to_string(),
            client_id: new.client_id.clone(),
            status: Status::AwaitingAuthorisation.as_str().to_string(),
            permissions: new.permissions.join(" "),
            logged_user_cpf: self.keyring.seal(CPF_COLUMN, &new.logged_user_cpf)?,
            logged_user_index: self.keyring.blind_index(&new.logged_user_cpf),
            logged_user_rel: new.logged_user_rel.clone(),
            business_cnpj: self
                .keyring
                .seal_opt(CNPJ_COLUMN, new.business_cnpj.as_deref())?,
            business_index: new
                .business_cnpj
                .as_deref()
                .map(|c| self.keyring.blind_index(c)),
            business_rel: new.business_rel.clone(),
            created_at: now,
            status_updated_at: now,
            expires_at: new.expires_at,
            rejected_by: None,
            rejection_reason: None,
            rejection_info: None,
            accounts: String::new(),
            is_linked: new.is_linked,
        };
        let txn = self.db().begin().await?;
        row.clone().into_active_model().insert(&txn).await?;
        insert_history(
            &txn,
            &row,
            None,
            Status::AwaitingAuthorisation,
            &tpp(&row.client_id),
            None,
            now,
        )
        .await?;
        outbox::append(
            &txn,
            NewEvent {
                brand,
                topic: "consents",
                aggregate_id: &consent_id,
                event_type: state::event::CREATED,
                payload: json!({
                    "consentId": consent_id,
                    "clientId": row.client_id,
                    "status": row.status,
                    "permissions": new.permissions,
                }),
            },
            now * 1000,
        )
        .await?;
        txn.commit().await?;
        tracing::info!(consent_id = %consent_id, client_id = %row.client_id, "consent created");
        self.record(row)
    }

    /// The consent, with any due expiry applied first.
    pub async fn get(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<ConsentRecord>, ConsentsError> {
        let Some(row) = self.row(Some(brand), consent_id).await? else {
            return Ok(None);
        };
        let (row, _) = self.settle(row, self.now()).await?;
        Ok(Some(self.record(row)?))
    }

    /// The consent of any brand (the bank's own channels), expiry applied.
    pub async fn get_any_brand(
        &self,
        consent_id: &str,
    ) -> Result<Option<ConsentRecord>, ConsentsError> {
        let Some(row) = self.row(None, consent_id).await? else {
            return Ok(None);
        };
        let (row, _) = self.settle(row, self.now()).await?;
        Ok(Some(self.record(row)?))
    }

    /// Applies `action` (not an authorisation or an extension: those carry data) on behalf of
    /// `actor`. `None` for an unknown consent.
    pub async fn act(
        &self,
        brand: &str,
        consent_id: &str,
        action: Action,
        actor: &str,
    ) -> Result<Option<Result<ConsentRecord, Refusal>>, ConsentsError> {
        debug_assert!(!matches!(action, Action::Authorise | Action::Extend { .. }));
        // A lost race re-reads and decides again; the second look sees the winner's status.
        for _ in 0..3 {
            let Some(row) = self.row(Some(brand), consent_id).await? else {
                return Ok(None);
            };
            let now = self.now();
            let (row, _) = self.settle(row, now).await?;
            let transition = match state::decide(&snapshot(&row)?, action, now) {
                Ok(t) => t,
                Err(refusal) => return Ok(Some(Err(refusal))),
            };
            if self
                .apply(&row, &transition, actor, Extra::None, now)
                .await?
            {
                return self.get(brand, consent_id).await.map(|r| r.map(Ok));
            }
        }
        Ok(Some(Err(Refusal::AlreadyRejected)))
    }

    /// Renews an authorised consent (`POST /consents/{consentId}/extends`), recording the
    /// renewal. `None` for an unknown consent.
    pub async fn extend(
        &self,
        brand: &str,
        consent_id: &str,
        ext: NewExtension,
    ) -> Result<Option<Result<ConsentRecord, Refusal>>, ConsentsError> {
        let Some(row) = self.row(Some(brand), consent_id).await? else {
            return Ok(None);
        };
        let now = self.now();
        let (row, _) = self.settle(row, now).await?;
        let action = Action::Extend {
            expires_at: ext.expires_at,
        };
        let transition = match state::decide(&snapshot(&row)?, action, now) {
            Ok(t) => t,
            Err(refusal) => return Ok(Some(Err(refusal))),
        };
        let model = extension::ActiveModel {
            id: ActiveValue::NotSet,
            consent_id: ActiveValue::Set(row.consent_id.clone()),
            brand: ActiveValue::Set(row.brand.clone()),
            expires_at: ActiveValue::Set(ext.expires_at),
            previous_expires_at: ActiveValue::Set(row.expires_at),
            logged_user_cpf: ActiveValue::Set(
                self.keyring
                    .seal(EXTENSION_CPF_COLUMN, &ext.logged_user_cpf)?,
            ),
            logged_user_rel: ActiveValue::Set(ext.logged_user_rel.clone()),
            customer_ip: ActiveValue::Set(
                self.keyring.seal(EXTENSION_IP_COLUMN, &ext.customer_ip)?,
            ),
            customer_user_agent: ActiveValue::Set(ext.customer_user_agent.clone()),
            requested_at: ActiveValue::Set(now),
        };
        let actor = tpp(&row.client_id);
        if !self
            .apply(
                &row,
                &transition,
                &actor,
                Extra::Extension(Box::new(model)),
                now,
            )
            .await?
        {
            // Someone else changed it meanwhile: report what it is now.
            let refusal = match self.get(brand, consent_id).await? {
                Some(r) if r.status == Status::Authorised => Refusal::InvalidExpiry,
                _ => Refusal::NotAuthorised,
            };
            return Ok(Some(Err(refusal)));
        }
        self.get(brand, consent_id).await.map(|r| r.map(Ok))
    }

    /// A page of a consent's renewals, newest first, and how many there are in all.
    pub async fn extensions(
        &self,
        brand: &str,
        consent_id: &str,
        page: u64,
        page_size: u64,
    ) -> Result<(Vec<ExtensionRecord>, u64), ConsentsError> {
        let query = extension::Entity::find()
            .filter(extension::Column::ConsentId.eq(consent_id))
            .filter(extension::Column::Brand.eq(brand));
        let total = query.clone().count(self.db()).await?;
        let rows = query
            .order_by_desc(extension::Column::RequestedAt)
            .order_by_desc(extension::Column::Id)
            .offset(page.saturating_sub(1) * page_size)
            .limit(page_size)
            .all(self.db())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(ExtensionRecord {
                expires_at: row.expires_at,
                previous_expires_at: row.previous_expires_at,
                logged_user_cpf: self
                    .keyring
                    .open(EXTENSION_CPF_COLUMN, &row.logged_user_cpf)?,
                logged_user_rel: row.logged_user_rel,
                customer_ip: self.keyring.open(EXTENSION_IP_COLUMN, &row.customer_ip)?,
                customer_user_agent: row.customer_user_agent,
                requested_at: row.requested_at,
            });
        }
        Ok((out, total))
    }

    /// Every status change of a consent, oldest first.
    pub async fn history(&self, consent_id: &str) -> Result<Vec<HistoryRecord>, ConsentsError> {
        Ok(history::Entity::find()
            .filter(history::Column::ConsentId.eq(consent_id))
            .order_by_asc(history::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(|h| HistoryRecord {
                from_status: h.from_status,
                to_status: h.to_status,
                actor: h.actor,
                reason: h.reason,
                at: h.at,
            })
            .collect())
    }

    /// The resources linked to a consent.
    pub async fn linked_resources(
        &self,
        consent_id: &str,
    ) -> Result<Vec<LinkedResource>, ConsentsError> {
        Ok(resource::Entity::find()
            .filter(resource::Column::ConsentId.eq(consent_id))
            .order_by_asc(resource::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(|r| LinkedResource {
                resource_id: r.resource_id,
                resource_type: r.resource_type,
                status: r.status,
            })
            .collect())
    }

    /// The consents where `document` (CPF or CNPJ) is the logged user or the business, newest
    /// first, expiry applied, optionally of one status and one brand.
    pub async fn find_by_document(
        &self,
        document: &str,
        status: Option<Status>,
        brand: Option<&str>,
    ) -> Result<Vec<ConsentRecord>, ConsentsError> {
        let index = self.keyring.blind_index(document);
        let mut query = consent::Entity::find().filter(
            Condition::any()
                .add(consent::Column::LoggedUserIndex.eq(index.as_str()))
                .add(consent::Column::BusinessIndex.eq(index.as_str())),
        );
        if let Some(brand) = brand {
            query = query.filter(consent::Column::Brand.eq(brand));
        }
        let rows = query
            .order_by_desc(consent::Column::CreatedAt)
            .all(self.db())
            .await?;
        let now = self.now();
        let mut out = Vec::new();
        for row in rows {
            let (row, _) = self.settle(row, now).await?;
            let record = self.record(row)?;
            if status.is_none_or(|s| s == record.status) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// What a resource server checks on every data call: the consent and its resources in
    /// one read (a left join), expiry applied.
    pub async fn grant_view(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<ConsentGrant>, ConsentsError> {
        let linked: RelationDef = resource::Entity::belongs_to(consent::Entity)
            .from(resource::Column::ConsentId)
            .to(consent::Column::ConsentId)
            .into();
        let rows = consent::Entity::find_by_id(consent_id.to_string())
            .filter(consent::Column::Brand.eq(brand))
            .join(JoinType::LeftJoin, linked.rev())
            .select_also(resource::Entity)
            .order_by_asc(resource::Column::Id)
            .all(self.db())
            .await?;
        let Some((row, _)) = rows.first().cloned() else {
            return Ok(None);
        };
        let resources = rows
            .into_iter()
            .filter_map(|(_, r)| r)
            .map(|r| LinkedResource {
                resource_id: r.resource_id,
                resource_type: r.resource_type,
                status: r.status,
            })
            .collect();
        let (row, _) = self.settle(row, self.now()).await?;
        let record = self.record(row)?;
        Ok(Some(ConsentGrant {
            consent_id: record.consent_id,
            client_id: record.client_id,
            status: record.status.as_str().to_string(),
            expires_at: record.expires_at,
            permissions: record.permissions,
            customer_cpf: record.logged_user_cpf,
            business_cnpj: record.business_cnpj,
            resources,
        }))
    }

    /// Expires every consent whose time is up at `now`; returns how many changed.
    pub async fn sweep_expired(&self, now: i64) -> Result<u64, ConsentsError> {
        let timeout_before = now - self.config.authorisation_timeout;
        let mut changed = 0;
        loop {
            let rows = consent::Entity::find()
                .filter(
                    Condition::any()
                        .add(
                            Condition::all()
                                .add(
                                    consent::Column::Status
                                        .eq(Status::AwaitingAuthorisation.as_str()),
                                )
                                .add(consent::Column::CreatedAt.lte(timeout_before)),
                        )
                        .add(
                            Condition::all()
                                .add(consent::Column::Status.is_in([
                                    Status::AwaitingAuthorisation.as_str(),
                                    Status::Authorised.as_str(),
                                ]))
                                .add(consent::Column::ExpiresAt.lte(now)),
                        ),
                )
                .order_by_asc(consent::Column::CreatedAt)
                .limit(SWEEP_BATCH)
                .all(self.db())
                .await?;
            let batch = rows.len() as u64;
            let mut progressed = false;
            for row in rows {
                let (_, applied) = self.settle(row, now).await?;
                if applied {
                    changed += 1;
                    progressed = true;
                }
            }
            if batch < SWEEP_BATCH || !progressed {
                break;
            }
        }
        if changed > 0 {
            tracing::info!(changed, "expired consents swept");
        }
        Ok(changed)
    }

    /// The portal's authorisation (requirements §1.12): the user checks, the customer's
    /// resources from the connector, then the move to `AUTHORISED` with the resources linked.
    pub(crate) async fn authorise_for(
        &self,
        brand: &str,
        consent_id: &str,
        user: &aberta_auth::identity::EndUser,
        accounts: &[String],
    ) -> Result<Result<(), aberta_auth::consent::Refusal>, ConsentsError> {
        use aberta_auth::consent::{Refusal as AsRefusal, check_user};
        let Some(row) = self.row(Some(brand), consent_id).await? else {
            return Ok(Err(AsRefusal::NotAwaiting));
        };
        let now = self.now();
        let (row, _) = self.settle(row, now).await?;
        let record = self.record(row.clone())?;
        if let Err(refusal) = check_user(&as_view(&record), user) {
            return Ok(Err(refusal));
        }
        let transition = match state::decide(&snapshot(&row)?, Action::Authorise, now) {
            Ok(t) => t,
            Err(_) => return Ok(Err(AsRefusal::NotAwaiting)),
        };
        let resources = self.customer_resources(&record, accounts).await?;
        let extra = Extra::Authorise {
            accounts: accounts.join(" "),
            resources,
        };
        if self.apply(&row, &transition, "USER", extra, now).await? {
            Ok(Ok(()))
        } else {
            Ok(Err(AsRefusal::NotAwaiting))
        }
    }

    /// The customer's resources the consent's permissions cover (of the accounts, only those
    /// picked when any were).
    async fn customer_resources(
        &self,
        record: &ConsentRecord,
        accounts: &[String],
    ) -> Result<Vec<LinkedResource>, ConsentsError> {
        let types: Vec<&str> = record
            .permissions
            .iter()
            .filter_map(|p| resource_type_of(p))
            .collect();
        if types.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = ConnectorContext {
            consent: None,
            brand: record.brand.clone(),
            customer: Cpf::try_from(record.logged_user_cpf.clone()).ok(),
            business: record
                .business_cnpj
                .clone()
                .and_then(|c| Cnpj::try_from(c).ok()),
            consent_id: Some(record.consent_id.clone()),
            interaction_id: uuid::Uuid::new_v4().to_string(),
            deadline: None,
        };
        let mut found = Vec::new();
        let mut seen = 0u64;
        for page in 1..=MAX_RESOURCE_PAGES {
            let result = self
                .resources
                .resources_get_resources(
                    &ctx,
                    ResourcesGetResourcesInput {
                        page: PageRequest {
                            page,
                            page_size: RESOURCE_PAGE_SIZE,
                        },
                    },
                )
                .await?;
            let count = result.items.len() as u64;
            seen += count;
            found.extend(result.items);
            if count < u64::from(RESOURCE_PAGE_SIZE) || seen >= result.total_records {
                break;
            }
        }
        Ok(found
            .into_iter()
            .filter(|r| types.contains(&r.type_.as_str()))
            .filter(|r| {
                r.type_.as_str() != "ACCOUNT"
                    || accounts.is_empty()
                    || accounts.contains(&r.resource_id)
            })
            .map(|r| LinkedResource {
                resource_id: r.resource_id,
                resource_type: r.type_.as_str().to_string(),
                status: r.status.as_str().to_string(),
            })
            .collect())
    }

    async fn row(
        &self,
        brand: Option<&str>,
        consent_id: &str,
    ) -> Result<Option<consent::Model>, ConsentsError> {
        let mut query = consent::Entity::find_by_id(consent_id.to_string());
        if let Some(brand) = brand {
            query = query.filter(consent::Column::Brand.eq(brand));
        }
        Ok(query.one(self.db()).await?)
    }

    /// Applies the expiry due at `now`, if any; returns the current row and whether this call
    /// made the change.
    async fn settle(
        &self,
        row: consent::Model,
        now: i64,
    ) -> Result<(consent::Model, bool), ConsentsError> {
        let Some(transition) =
            state::expiry_due(&snapshot(&row)?, now, self.config.authorisation_timeout)
        else {
            return Ok((row, false));
        };
        let applied = self
            .apply(&row, &transition, CLOCK, Extra::None, now)
            .await?;
        let fresh = self.row(Some(&row.brand), &row.consent_id).await?;
        Ok((fresh.unwrap_or(row), applied))
    }

    /// Makes `t` on `row` in one transaction; `false` (and nothing written) when the row is no
    /// longer as `t` expects. Revokes the consent's tokens when an authorised consent ends.
    async fn apply(
        &self,
        row: &consent::Model,
        t: &Transition,
        actor: &str,
        extra: Extra,
        now: i64,
    ) -> Result<bool, ConsentsError> {
        use consent::Column as C;
        let mut update = consent::Entity::update_many()
            .col_expr(C::Status, Expr::value(t.to.as_str()))
            .filter(C::ConsentId.eq(row.consent_id.as_str()))
            .filter(C::Brand.eq(row.brand.as_str()))
            .filter(C::Status.eq(t.from.as_str()));
        if t.from != t.to {
            update = update.col_expr(C::StatusUpdatedAt, Expr::value(now));
        }
        if let Some(r) = t.rejection {
            update = update
                .col_expr(C::RejectedBy, Expr::value(r.by.as_str()))
                .col_expr(C::RejectionReason, Expr::value(r.reason.as_str()));
        }
        if let Some(new_end) = t.extend_to {
            update = update.col_expr(C::ExpiresAt, Expr::value(new_end));
            update = match row.expires_at {
                Some(old) => update.filter(C::ExpiresAt.eq(old)),
                None => update.filter(C::ExpiresAt.is_null()),
            };
        }
        if let Extra::Authorise { accounts, .. } = &extra {
            update = update.col_expr(C::Accounts, Expr::value(accounts.as_str()));
        }
        let txn = self.db().begin().await?;
        if update.exec(&txn).await?.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        let mut payload = json!({
            "consentId": row.consent_id,
            "clientId": row.client_id,
            "from": t.from.as_str(),
            "to": t.to.as_str(),
        });
        match extra {
            Extra::None => {}
            Extra::Authorise { resources, .. } => {
                payload["resourceCount"] = json!(resources.len());
                if !resources.is_empty() {
                    resource::Entity::insert_many(resources.into_iter().map(|r| {
                        resource::ActiveModel {
                            id: ActiveValue::NotSet,
                            consent_id: ActiveValue::Set(row.consent_id.clone()),
                            brand: ActiveValue::Set(row.brand.clone()),
                            resource_id: ActiveValue::Set(r.resource_id),
                            resource_type: ActiveValue::Set(r.resource_type),
                            status: ActiveValue::Set(r.status),
                        }
                    }))
                    .exec(&txn)
                    .await?;
                }
            }
            Extra::Extension(model) => {
                (*model).insert(&txn).await?;
            }
        }
        if let Some(r) = t.rejection {
            payload["rejectedBy"] = json!(r.by.as_str());
            payload["reason"] = json!(r.reason.as_str());
        }
        if let Some(new_end) = t.extend_to {
            payload["expirationDateTime"] = json!(new_end.map(crate::time::format));
        }
        let reason = t.rejection.map(|r| r.reason.as_str()).unwrap_or(t.event);
        insert_history(&txn, row, Some(t.from), t.to, actor, Some(reason), now).await?;
        outbox::append(
            &txn,
            NewEvent {
                brand: &row.brand,
                topic: "consents",
                aggregate_id: &row.consent_id,
                event_type: t.event,
                payload,
            },
            now * 1000,
        )
        .await?;
        txn.commit().await?;
        tracing::info!(
            consent_id = %row.consent_id,
            from = t.from.as_str(),
            to = t.to.as_str(),
            event = t.event,
            "consent changed"
        );
        if t.from == Status::Authorised && t.to == Status::Rejected {
            let revoked = self
                .store
                .revoke_consent_grants(&row.brand, &row.consent_id)
                .await?;
            tracing::info!(consent_id = %row.consent_id, revoked, "consent grants revoked");
        }
        Ok(true)
    }

    fn record(&self, row: consent::Model) -> Result<ConsentRecord, ConsentsError> {
        let snapshot = snapshot(&row)?;
        let rejection = match (&row.rejected_by, &row.rejection_reason) {
            (Some(by), Some(reason)) => Some(Rejection {
                by: RejectedBy::parse(by)
                    .ok_or_else(|| ConsentsError::Corrupt(format!("rejected by {by}")))?,
                reason: RejectionReason::parse(reason)
                    .ok_or_else(|| ConsentsError::Corrupt(format!("reason {reason}")))?,
            }),
            _ => None,
        };
        Ok(ConsentRecord {
            logged_user_cpf: self.keyring.open(CPF_COLUMN, &row.logged_user_cpf)?,
            business_cnpj: self
                .keyring
                .open_opt(CNPJ_COLUMN, row.business_cnpj.as_deref())?,
            consent_id: row.consent_id,
            brand: row.brand,
            client_id: row.client_id,
            status: snapshot.status,
            permissions: row
                .permissions
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            logged_user_rel: row.logged_user_rel,
            business_rel: row.business_rel,
            created_at: row.created_at,
            status_updated_at: row.status_updated_at,
            expires_at: row.expires_at,
            rejection,
            rejection_info: row.rejection_info,
            accounts: row.accounts.split_whitespace().map(str::to_owned).collect(),
            is_linked: row.is_linked,
        })
    }
}

/// The actor name of a receiving institution.
pub(crate) fn tpp(client_id: &str) -> String {
    format!("TPP:{client_id}")
}

fn snapshot(row: &consent::Model) -> Result<Snapshot, ConsentsError> {
    Ok(Snapshot {
        status: Status::parse(&row.status)
            .ok_or_else(|| ConsentsError::Corrupt(format!("status {}", row.status)))?,
        created_at: row.created_at,
        expires_at: row.expires_at,
    })
}

/// The authorization server's view of a consent; no end date reads as 2300-01-01.
pub(crate) fn as_view(record: &ConsentRecord) -> aberta_auth::consent::ConsentView {
    aberta_auth::consent::ConsentView {
        consent_id: record.consent_id.clone(),
        client_id: record.client_id.clone(),
        status: record.status.as_str().to_string(),
        logged_user_cpf: record.logged_user_cpf.clone(),
        business_cnpj: record.business_cnpj.clone(),
        permissions: record.permissions.clone(),
        expires_at: record.expires_at.unwrap_or(crate::NO_END_DATE),
        payment: None,
    }
}

/// `urn:<namespace>:<uuid>`, the namespace made from the brand id within the spec's pattern
/// (`[a-zA-Z0-9][a-zA-Z0-9-]{0,31}`).
pub fn new_consent_id(brand: &str) -> String {
    let mut namespace: String = brand
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .skip_while(|c| *c == '-')
        .take(32)
        .collect();
    if namespace.is_empty() {
        namespace = "aberta".to_string();
    }
    format!("urn:{namespace}:{}", uuid::Uuid::new_v4())
}

async fn insert_history(
    txn: &DatabaseTransaction,
    row: &consent::Model,
    from: Option<Status>,
    to: Status,
    actor: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<(), ConsentsError> {
    history::ActiveModel {
        id: ActiveValue::NotSet,
        consent_id: ActiveValue::Set(row.consent_id.clone()),
        brand: ActiveValue::Set(row.brand.clone()),
        from_status: ActiveValue::Set(from.map(|s| s.as_str().to_string())),
        to_status: ActiveValue::Set(to.as_str().to_string()),
        actor: ActiveValue::Set(actor.to_string()),
        reason: ActiveValue::Set(reason.map(str::to_owned)),
        at: ActiveValue::Set(now),
    }
    .insert(txn)
    .await?;
    Ok(())
}

async fn migrate(db: &DatabaseConnection) -> Result<(), ConsentsError> {
    let m = aberta_store::migrate::begin(db, "consents").await?;
    if m.current() < 1 {
        m.create_table(consent::Entity).await?;
        m.create_table(history::Entity).await?;
        m.create_table(extension::Entity).await?;
        m.create_table(resource::Entity).await?;
        let indexes: [(&str, &[&str]); 4] = [
            ("idx_consents_consent_user", &["logged_user_index"]),
            ("idx_consents_consent_business", &["business_index"]),
            (
                "idx_consents_consent_status_created",
                &["status", "created_at"],
            ),
            (
                "idx_consents_consent_status_expiry",
                &["status", "expires_at"],
            ),
        ];
        for (name, columns) in indexes {
            m.create_index(name, consent::Entity, columns, false)
                .await?;
        }
        m.create_index(
            "idx_consents_history_consent",
            history::Entity,
            &["consent_id"],
            false,
        )
        .await?;
        m.create_index(
            "idx_consents_extension_consent",
            extension::Entity,
            &["consent_id", "requested_at"],
            false,
        )
        .await?;
        m.create_index(
            "idx_consents_resource_consent",
            resource::Entity,
            &["consent_id"],
            false,
        )
        .await?;
    }
    m.finish(1).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_ids_match_the_spec_pattern() {
        let id = new_consent_id("demo-bank");
        assert!(id.starts_with("urn:demo-bank:"));
        let id = new_consent_id("-_weird brand!");
        assert!(id.starts_with("urn:weirdbrand:"), "{id}");
        let id = new_consent_id("");
        assert!(id.starts_with("urn:aberta:"));
        let long = new_consent_id(&"x".repeat(64));
        assert_eq!(long.split(':').nth(1).unwrap().len(), 32);
    }
}
