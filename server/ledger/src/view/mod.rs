//! The materialised view: redb tables kept by a pure `apply` over the ledger order.

pub mod apply;
pub mod tables;
pub mod txn;

pub use tables::{Kind, SkillFormat, TaskStatus, ViewTable};
pub use txn::{Digest, ViewTxn};
