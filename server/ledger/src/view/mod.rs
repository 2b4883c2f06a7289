//! The materialised view: redb tables kept by a pure `apply` over the ledger order.

pub mod apply;
pub mod read;
pub mod tables;
pub mod txn;

pub use read::{
    Change, ChangesPage, Claimer, EntryView, ForkView, InviteView, LedgerStatus, ListFilter,
    ListQuery, MemberView, Order, PactView, Page, TaskView, ViewReader,
};
pub use tables::{Kind, SkillFormat, TaskStatus, ViewTable};
pub use txn::{Digest, ViewTxn};
