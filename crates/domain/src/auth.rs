//! Who may do what: staff roles, the permissions each grants (deny by default), and the
//! sign-in throttling policy (staff passwords, customers' link requests).

use crate::values::ValueError;
use serde::{Deserialize, Serialize};

/// A staff member's role. Customers are not staff and have no role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Manager,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Manager, Role::Agent];

    pub fn parse(s: &str) -> Result<Role, ValueError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "agent" => Ok(Role::Agent),
            _ => Err(ValueError::Role(s.chars().take(40).collect())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
        }
    }

    /// Whether this role grants `p`. Anything not listed here is denied.
    pub fn can(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Manager => matches!(
                p,
                WorkCases
                    | ReadCustomers
                    | WriteCustomers
                    | ManageOwnTokens
                    | ViewReports
                    | ManageRules
                    | ReassignCases
                    | ImportData
            ),
            Role::Agent => matches!(
                p,
                WorkCases | ReadCustomers | WriteCustomers | ManageOwnTokens
            ),
        }
    }
}

/// An action that needs a permission. Handlers ask for one; roles grant them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read and work cases: reply, note, change status.
    WorkCases,
    ReadCustomers,
    WriteCustomers,
    /// Create and revoke one's own API tokens.
    ManageOwnTokens,
    /// Dashboards, scorecards, analytics.
    ViewReports,
    /// Tier, target, routing, escalation and trigger rules.
    ManageRules,
    /// Reassign cases owned by others.
    ReassignCases,
    /// Bulk import and export.
    ImportData,
    /// Users, roles, teams, channels, tenant settings.
    ManageUsers,
    ManageSettings,
    /// Erase a customer's personal data for good (admins only).
    EraseCustomers,
}

/// Sign-in throttling: how many failed attempts are tolerated per account and per client
/// address within a sliding window. Counts live in the database so that every node agrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInPolicy {
    pub window_secs: i64,
    pub max_failures_per_account: i64,
    pub max_failures_per_address: i64,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self {
            window_secs: 15 * 60,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
        }
    }
}

impl SignInPolicy {
    /// Decides whether another attempt may be made given recent failure counts.
    pub fn allows(&self, account_failures: i64, address_failures: i64) -> bool {
        account_failures < self.max_failures_per_account
            && address_failures < self.max_failures_per_address
    }
}

/// Customers asking for a sign-in link by email: how many requests are answered per address
/// and per client address within a window. Every request counts, known address or not, so
/// the throttle tells nothing about which addresses have accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRequestPolicy {
    pub window_secs: i64,
    pub max_per_address: i64,
    pub max_per_client: i64,
}

impl Default for LinkRequestPolicy {
    fn default() -> Self {
        Self {
            window_secs: 15 * 60,
            max_per_address: 3,
            max_per_client: 10,
        }
    }
}

impl LinkRequestPolicy {
    /// Whether another request may be answered given the recent request counts.
    pub fn allows(&self, for_address: i64, from_client: i64) -> bool {
        for_address < self.max_per_address && from_client < self.max_per_client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_cannot_do_admin_things() {
        assert!(!Role::Agent.can(Permission::ManageUsers));
        assert!(!Role::Agent.can(Permission::ManageSettings));
        assert!(!Role::Agent.can(Permission::ViewReports));
        assert!(Role::Agent.can(Permission::WorkCases));
        assert!(!Role::Manager.can(Permission::ManageUsers));
        assert!(Role::Manager.can(Permission::ViewReports));
        assert!(Role::Admin.can(Permission::ManageUsers));
    }

    #[test]
    fn role_parsing() {
        assert_eq!(Role::parse(" Admin ").unwrap(), Role::Admin);
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn link_requests_are_throttled() {
        let p = LinkRequestPolicy::default();
        assert!(p.allows(2, 9));
        assert!(!p.allows(3, 0));
        assert!(!p.allows(0, 10));
    }

    #[test]
    fn throttle() {
        let p = SignInPolicy::default();
        assert!(p.allows(4, 0));
        assert!(!p.allows(5, 0));
        assert!(!p.allows(0, 20));
    }
}
