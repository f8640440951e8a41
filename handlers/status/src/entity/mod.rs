//! This crate's tables: the outage register, the health checker's per-family probe state,
//! the lease that lets one instance at a time run the health checker, and the daily rollup
//! of the recorded calls with its progress mark.

pub mod call_day;
pub mod call_mark;
pub mod lease;
pub mod outage;
pub mod probe;
