//! Who acts on records, and in which mode.

use heddle_identity::Caller;
use heddle_records::UserId;
use heddle_types::TenantId;

/// How the actor's access is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessMode {
    /// As the org user: sharing, object CRUD and field-level security apply.
    User,
    /// As a configured service user, without sharing, CRUD or FLS. Every call is recorded
    /// with identity mode `service_user` and this justification from the record org.
    System { justification: String },
}

/// An authenticated caller resolved to an org user of its tenant's record org.
///
/// Only [`crate::EmbeddedRecords::user_actor`] and [`crate::EmbeddedRecords::system_actor`]
/// make one, so holding an actor means the resolution and authorization ran.
#[derive(Debug, Clone)]
pub struct RecordActor {
    pub(crate) tenant_id: TenantId,
    pub(crate) caller: Caller,
    pub(crate) user_id: UserId,
    pub(crate) mode: AccessMode,
}

impl RecordActor {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The org user whose access applies.
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    pub fn mode(&self) -> &AccessMode {
        &self.mode
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}
