//! The demo bank's tables. Every row carries `ring`, a tag derived from the key ring's index
//! key, so one database can hold a seed per key ring (the test suite shares one PostgreSQL
//! database across runs with fresh rings); a deployment has exactly one. Personal data lives
//! only in the sealed columns.

pub mod balance;
pub mod customer;
pub mod entry;
pub mod pix_payment;
pub mod product;
