//! What a principal may attempt. The first group is the permission matrix of seed 002; the
//! rest are the administrative actions Heddle's own API needs.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // Seed 002 permission matrix.
    ManageUsers,
    ManageBilling,
    CreateAgent,
    EditAgent,
    DeleteAgent,
    ExecuteAgent,
    ViewExecutions,
    ViewAuditLog,
    ViewComplianceDashboard,
    StartAdversarialScan,
    ViewPlaybooks,
    // Heddle administration.
    ViewUsers,
    ManageApiKeys,
    ViewTenant,
    ManagePolicies,
    ViewPolicies,
    /// Create and list tenants: only admins of the operator tenant.
    ManageTenants,
    /// Read one's own identity; every authenticated principal may.
    ViewSelf,
    /// Create, rotate and delete secrets (environment-scoped for builders).
    ManageSecrets,
    /// See secrets' metadata and masked form; never the value.
    ViewSecrets,
    /// Read and write business records through the record API, as oneself: the tenant's
    /// record org (sharing, CRUD, field-level security) decides which records and fields.
    UseRecords,
    /// See the tenant's record org (users, roles, profiles, sharing rules, objects).
    ViewRecordOrg,
    /// Replace the tenant's record org and import records.
    ManageRecordOrg,
    /// Run one capability through an agent: checked for every tool call the model proposes,
    /// after the caller was allowed to run the agent at all.
    CallCapability,
    /// Run a capability's call without the person in the conversation confirming it. Every
    /// principal may by default; a tenant `forbid` makes confirmation the floor for the
    /// calls it matches (the capability's own mode can only add to it).
    RunWithoutConfirmation,
    /// Run a capability's call without an approver's approval; like
    /// [`Action::RunWithoutConfirmation`], a tenant `forbid` raises the floor.
    RunWithoutApproval,
    /// Let a capability's call receive the real values behind masked personal data in its
    /// arguments. Permitted for reads and writes (the values go back into the tenant's own
    /// records); a side effect (mail, a webhook, another system) receives them only where a
    /// tenant policy permits it.
    UnmaskArguments,
    /// Send requests through one gateway route (`/v1/chat/completions`, `/v1/embeddings`):
    /// its upstream model, under its trust layers and budgets.
    UseRoute,
    /// Register upstream MCP servers' tools for re-exposure: see the live listing against
    /// the pins, approve a tool's definition, revoke an approval.
    ManageMcpServers,
    /// Call a re-exposed tool of an upstream MCP server through the gateway (and list them).
    CallMcpTool,
}

impl Action {
    pub const ALL: [Action; 30] = [
        Action::ManageUsers,
        Action::ManageBilling,
        Action::CreateAgent,
        Action::EditAgent,
        Action::DeleteAgent,
        Action::ExecuteAgent,
        Action::ViewExecutions,
        Action::ViewAuditLog,
        Action::ViewComplianceDashboard,
        Action::StartAdversarialScan,
        Action::ViewPlaybooks,
        Action::ViewUsers,
        Action::ManageApiKeys,
        Action::ViewTenant,
        Action::ManagePolicies,
        Action::ViewPolicies,
        Action::ManageTenants,
        Action::ViewSelf,
        Action::ManageSecrets,
        Action::ViewSecrets,
        Action::UseRecords,
        Action::ViewRecordOrg,
        Action::ManageRecordOrg,
        Action::CallCapability,
        Action::RunWithoutConfirmation,
        Action::RunWithoutApproval,
        Action::UnmaskArguments,
        Action::UseRoute,
        Action::ManageMcpServers,
        Action::CallMcpTool,
    ];

    /// The Cedar action id (`Heddle::Action::"manage_users"`), equal to the wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::ManageUsers => "manage_users",
            Action::ManageBilling => "manage_billing",
            Action::CreateAgent => "create_agent",
            Action::EditAgent => "edit_agent",
            Action::DeleteAgent => "delete_agent",
            Action::ExecuteAgent => "execute_agent",
            Action::ViewExecutions => "view_executions",
            Action::ViewAuditLog => "view_audit_log",
            Action::ViewComplianceDashboard => "view_compliance_dashboard",
            Action::StartAdversarialScan => "start_adversarial_scan",
            Action::ViewPlaybooks => "view_playbooks",
            Action::ViewUsers => "view_users",
            Action::ManageApiKeys => "manage_api_keys",
            Action::ViewTenant => "view_tenant",
            Action::ManagePolicies => "manage_policies",
            Action::ViewPolicies => "view_policies",
            Action::ManageTenants => "manage_tenants",
            Action::ViewSelf => "view_self",
            Action::ManageSecrets => "manage_secrets",
            Action::ViewSecrets => "view_secrets",
            Action::UseRecords => "use_records",
            Action::ViewRecordOrg => "view_record_org",
            Action::ManageRecordOrg => "manage_record_org",
            Action::CallCapability => "call_capability",
            Action::RunWithoutConfirmation => "run_without_confirmation",
            Action::RunWithoutApproval => "run_without_approval",
            Action::UnmaskArguments => "unmask_arguments",
            Action::UseRoute => "use_route",
            Action::ManageMcpServers => "manage_mcp_servers",
            Action::CallMcpTool => "call_mcp_tool",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_name_matches_cedar_id() {
        for action in Action::ALL {
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
        }
    }
}
