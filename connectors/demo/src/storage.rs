//! The demo bank's tables: migration, the one-time seed, and the reads the connectors make.
//!
//! Personal data never reaches a column in clear: each product's spec-shaped JSON, each
//! customer's documents, names and labels are sealed with the key ring under the column's
//! name, and a customer is found by the blind index of their CPF or CNPJ. What filters and
//! pagination need (dates as day offsets, credit/debit, transaction type, MCC) stays in clear.

use std::sync::Arc;

use aberta_runtime::connector::PageRequest;
use aberta_store::KeyRing;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationDef, Set,
};
use serde_json::Value;

use crate::dates;
use crate::entity::{balance, customer, entry, pix_payment, product};
use crate::error::DemoError;
use crate::seed::{self, SeedBank};

const MODULE: &str = "demo_bank";
/// 1: customers, products, entries. 2: live balances and Pix payments.
const SCHEMA_VERSION: i64 = 2;
/// Rows per INSERT while seeding (well under PostgreSQL's bind-parameter limit).
const BATCH: usize = 200;

/// Sealing contexts: the table and column a sealed value belongs to.
mod column {
    pub const CUSTOMER_NAME: &str = "demo_customer.name";
    pub const CUSTOMER_DOCUMENT: &str = "demo_customer.document";
    pub const CUSTOMER_PROFILE: &str = "demo_customer.profile";
    pub const PRODUCT_LABEL: &str = "demo_product.label";
    pub const PRODUCT_BODY: &str = "demo_product.body";
    pub const ENTRY_BODY: &str = "demo_entry.body";
}

/// The database handle, the key ring, and this ring's tag.
pub(crate) struct Storage {
    db: DatabaseConnection,
    ring: Arc<KeyRing>,
    tag: String,
}

/// What a paginated read of entries asks for.
pub(crate) struct EntryQuery<'a> {
    pub product_id: &'a str,
    pub section: &'static str,
    pub parent_id: Option<&'a str>,
    /// Inclusive window of day offsets.
    pub days: Option<(i32, i32)>,
    pub tag: Option<&'a str>,
    pub mcc: Option<i64>,
    pub page: PageRequest,
}

impl Storage {
    /// Migrates, then seeds this key ring's copy of the bank if it is missing, all in the
    /// migration's transaction (so instances starting together seed once).
    pub async fn open(db: &DatabaseConnection, ring: Arc<KeyRing>) -> Result<Self, DemoError> {
        // The tag is keyed by the ring's index key: stable across data-key rotation.
        let tag = ring.blind_index("aberta-demo-bank/seed")[..16].to_string();
        let migration = aberta_store::migrate::begin(db, MODULE).await?;
        if migration.current() < 1 {
            migration.create_table(customer::Entity).await?;
            migration.create_table(product::Entity).await?;
            migration.create_table(entry::Entity).await?;
            migration
                .create_index(
                    "idx_demo_customer_document",
                    customer::Entity,
                    &["ring", "document_index"],
                    false,
                )
                .await?;
            migration
                .create_index(
                    "idx_demo_product_owner",
                    product::Entity,
                    &["ring", "owner_id", "seq"],
                    false,
                )
                .await?;
            migration
                .create_index(
                    "idx_demo_entry_product",
                    entry::Entity,
                    &["ring", "product_id", "section", "day_offset"],
                    false,
                )
                .await?;
        }
        if migration.current() < 2 {
            migration.create_table(balance::Entity).await?;
            migration.create_table(pix_payment::Entity).await?;
            migration
                .create_index(
                    "idx_demo_pix_payment_due",
                    pix_payment::Entity,
                    &["ring", "due_at_ms"],
                    false,
                )
                .await?;
            migration
                .create_index(
                    "idx_demo_pix_payment_consent",
                    pix_payment::Entity,
                    &["ring", "consent_id"],
                    false,
                )
                .await?;
        }
        let seeded = customer::Entity::find()
            .filter(customer::Column::Ring.eq(tag.as_str()))
            .one(migration.txn())
            .await?
            .is_some();
        if !seeded {
            write_seed(migration.txn(), &ring, &tag, seed::bank()).await?;
            tracing::info!("demo bank seeded");
        }
        write_balances(migration.txn(), &ring, &tag).await?;
        migration.finish(SCHEMA_VERSION).await?;
        Ok(Self {
            db: db.clone(),
            ring,
            tag,
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// This key ring's tag, the first key column of every row.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    pub fn blind_index(&self, document: &str) -> String {
        self.ring.blind_index(document)
    }

    pub async fn customer_by_document(
        &self,
        document: &str,
    ) -> Result<Option<customer::Model>, DemoError> {
        Ok(customer::Entity::find()
            .filter(customer::Column::Ring.eq(self.tag.as_str()))
            .filter(customer::Column::DocumentIndex.eq(self.blind_index(document)))
            .one(&self.db)
            .await?)
    }

    pub async fn customer(&self, id: &str) -> Result<Option<customer::Model>, DemoError> {
        Ok(
            customer::Entity::find_by_id((self.tag.clone(), id.to_string()))
                .one(&self.db)
                .await?,
        )
    }

    pub fn customer_name(&self, row: &customer::Model) -> Result<String, DemoError> {
        Ok(self.ring.open(column::CUSTOMER_NAME, &row.name)?)
    }

    pub fn customer_document(&self, row: &customer::Model) -> Result<String, DemoError> {
        Ok(self.ring.open(column::CUSTOMER_DOCUMENT, &row.document)?)
    }

    /// The customer's documents with real dates.
    pub fn customer_profile(&self, row: &customer::Model) -> Result<Value, DemoError> {
        self.open_json(column::CUSTOMER_PROFILE, &row.profile)
    }

    /// The owner's products in display order, optionally of one kind and account type.
    pub async fn products(
        &self,
        owner_id: &str,
        kind: Option<&str>,
        account_type: Option<&str>,
    ) -> Result<Vec<product::Model>, DemoError> {
        let mut query = product::Entity::find()
            .filter(product::Column::Ring.eq(self.tag.as_str()))
            .filter(product::Column::OwnerId.eq(owner_id));
        if let Some(kind) = kind {
            query = query.filter(product::Column::Kind.eq(kind));
        }
        if let Some(account_type) = account_type {
            query = query.filter(product::Column::AccountType.eq(account_type));
        }
        Ok(query
            .order_by_asc(product::Column::Seq)
            .all(&self.db)
            .await?)
    }

    /// The products of the customer whose document is `document` and whose kind is
    /// `holder_kind` (PF or PJ), in one query: the customer is joined, not read first.
    pub async fn products_of(
        &self,
        document: &str,
        holder_kind: &str,
        kind: &str,
        account_type: Option<&str>,
    ) -> Result<Vec<product::Model>, DemoError> {
        let mut query = self
            .owned_by(document, holder_kind)
            .filter(product::Column::Kind.eq(kind));
        if let Some(account_type) = account_type {
            query = query.filter(product::Column::AccountType.eq(account_type));
        }
        Ok(query
            .order_by_asc(product::Column::Seq)
            .all(&self.db)
            .await?)
    }

    /// Product `id` if the customer whose document is `document` (of `holder_kind`) owns
    /// it, in one query.
    pub async fn product_of(
        &self,
        document: &str,
        holder_kind: &str,
        id: &str,
    ) -> Result<Option<product::Model>, DemoError> {
        Ok(self
            .owned_by(document, holder_kind)
            .filter(product::Column::Id.eq(id))
            .one(&self.db)
            .await?)
    }

    fn owned_by(&self, document: &str, holder_kind: &str) -> sea_orm::Select<product::Entity> {
        let owner: RelationDef = product::Entity::belongs_to(customer::Entity)
            .from(product::Column::OwnerId)
            .to(customer::Column::Id)
            .into();
        product::Entity::find()
            .join(JoinType::InnerJoin, owner)
            .filter(product::Column::Ring.eq(self.tag.as_str()))
            .filter(customer::Column::Ring.eq(self.tag.as_str()))
            .filter(customer::Column::DocumentIndex.eq(self.blind_index(document)))
            .filter(customer::Column::Kind.eq(holder_kind))
    }

    pub fn product_label(&self, row: &product::Model) -> Result<String, DemoError> {
        Ok(self.ring.open(column::PRODUCT_LABEL, &row.label)?)
    }

    /// The product's sections with real dates.
    pub fn product_body(&self, row: &product::Model) -> Result<Value, DemoError> {
        self.open_json(column::PRODUCT_BODY, &row.body)
    }

    /// One page of a product's entries (newest first) and how many match in all.
    pub async fn entries(&self, query: EntryQuery<'_>) -> Result<(Vec<Value>, u64), DemoError> {
        let mut select = entry::Entity::find()
            .filter(entry::Column::Ring.eq(self.tag.as_str()))
            .filter(entry::Column::ProductId.eq(query.product_id))
            .filter(entry::Column::Section.eq(query.section));
        if let Some(parent) = query.parent_id {
            select = select.filter(entry::Column::ParentId.eq(parent));
        }
        if let Some((from, to)) = query.days {
            select = select.filter(entry::Column::DayOffset.between(from, to));
        }
        if let Some(tag) = query.tag {
            select = select.filter(entry::Column::Tag.eq(tag));
        }
        if let Some(mcc) = query.mcc {
            select = select.filter(entry::Column::Mcc.eq(mcc));
        }
        let total = select.clone().count(&self.db).await?;
        let size = u64::from(query.page.page_size.max(1));
        let skip = u64::from(query.page.page.max(1) - 1) * size;
        let rows = select
            .order_by_desc(entry::Column::DayOffset)
            .order_by_asc(entry::Column::Seq)
            .offset(skip)
            .limit(size)
            .all(&self.db)
            .await?;
        let items = rows
            .iter()
            .map(|row| self.open_json(column::ENTRY_BODY, &row.body))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, total))
    }

    fn open_json(&self, column: &str, sealed: &str) -> Result<Value, DemoError> {
        let mut value: Value = serde_json::from_str(&self.ring.open(column, sealed)?)?;
        dates::render(&mut value, dates::today());
        Ok(value)
    }
}

/// Gives every account of this ring's seed its live balance, starting from the seeded
/// `balances.availableAmount`, unless it has them already (a bank seeded before schema 2 gets
/// them on its first start after the upgrade).
async fn write_balances<C: ConnectionTrait>(
    db: &C,
    ring: &KeyRing,
    tag: &str,
) -> Result<(), DemoError> {
    let present = balance::Entity::find()
        .filter(balance::Column::Ring.eq(tag))
        .one(db)
        .await?
        .is_some();
    if present {
        return Ok(());
    }
    let accounts = product::Entity::find()
        .filter(product::Column::Ring.eq(tag))
        .filter(product::Column::Kind.eq("ACCOUNT"))
        .all(db)
        .await?;
    let mut rows = Vec::new();
    for account in accounts {
        let body: Value = serde_json::from_str(&ring.open(column::PRODUCT_BODY, &account.body)?)?;
        let available = body
            .pointer("/balances/availableAmount/amount")
            .and_then(Value::as_str)
            .and_then(crate::pix::cents_of)
            .ok_or(DemoError::MissingSection(seed::section::BALANCES))?;
        rows.push(balance::ActiveModel {
            ring: Set(tag.to_string()),
            product_id: Set(account.id),
            available_cents: Set(available),
        });
    }
    for chunk in rows.chunks(BATCH) {
        balance::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Seals and inserts the whole seed.
async fn write_seed<C: ConnectionTrait>(
    db: &C,
    ring: &KeyRing,
    tag: &str,
    bank: SeedBank,
) -> Result<(), DemoError> {
    let mut customers = Vec::new();
    for c in &bank.customers {
        let subject = if c.kind == "PF" {
            crate::identity::subject_of(&c.document)
        } else {
            String::new()
        };
        customers.push(customer::ActiveModel {
            ring: Set(tag.to_string()),
            id: Set(c.id.clone()),
            kind: Set(c.kind.to_string()),
            document_index: Set(ring.blind_index(&c.document)),
            password_hash: Set(c
                .password
                .as_deref()
                .map(|p| crate::identity::password_hash(&subject, p))),
            subject: Set(subject),
            represents: Set(c.represents.join(" ")),
            name: Set(ring.seal(column::CUSTOMER_NAME, &c.name)?),
            document: Set(ring.seal(column::CUSTOMER_DOCUMENT, &c.document)?),
            profile: Set(ring.seal(column::CUSTOMER_PROFILE, &c.profile.to_string())?),
        });
    }
    customer::Entity::insert_many(customers).exec(db).await?;

    let mut products = Vec::new();
    let mut entries = Vec::new();
    for (seq, p) in bank.products.iter().enumerate() {
        products.push(product::ActiveModel {
            ring: Set(tag.to_string()),
            id: Set(p.id.clone()),
            owner_id: Set(p.owner_id.clone()),
            kind: Set(p.kind.to_string()),
            account_type: Set(p.account_type.map(str::to_string)),
            status: Set(p.status.to_string()),
            seq: Set(i32::try_from(seq).unwrap_or(i32::MAX)),
            label: Set(ring.seal(column::PRODUCT_LABEL, &p.label)?),
            body: Set(ring.seal(column::PRODUCT_BODY, &p.body.to_string())?),
        });
        for (seq, e) in p.entries.iter().enumerate() {
            entries.push(entry::ActiveModel {
                ring: Set(tag.to_string()),
                id: Set(e.id.clone()),
                product_id: Set(p.id.clone()),
                section: Set(e.section.to_string()),
                parent_id: Set(e.parent_id.clone()),
                seq: Set(i32::try_from(seq).unwrap_or(i32::MAX)),
                day_offset: Set(e.day_offset),
                tag: Set(e.tag.clone()),
                mcc: Set(e.mcc),
                body: Set(ring.seal(column::ENTRY_BODY, &e.body.to_string())?),
            });
        }
    }
    for chunk in products.chunks(BATCH) {
        product::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await?;
    }
    for chunk in entries.chunks(BATCH) {
        entry::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    Ok(())
}
