//! Typed identifiers. Every row id is a 64-bit integer; the newtypes keep a customer id from
//! being passed where a case id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($name:ident),* $(,)?) => {$(
        #[doc = concat!("Identifier of a ", stringify!($name), " row.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<i64> for $name {
            fn from(v: i64) -> Self {
                Self(v)
            }
        }
    )*};
}

id_type!(
    TenantId,
    UserId,
    CustomerId,
    HouseholdId,
    ProductId,
    OrderId,
    CaseId,
    MessageId,
    TeamId,
    TokenId,
    JobId,
);
