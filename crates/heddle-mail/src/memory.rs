//! A mailer that keeps what it is given, for in-process tests.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::error::MailError;
use crate::mail::{Mailer, OutgoingMail};

/// Keeps every mail it accepts in memory; [`MemoryMailer::sent`] returns them in order. It
/// validates like the real mailers, so tests see the same refusals.
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<OutgoingMail>>,
}

impl MemoryMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mail accepted so far, oldest first.
    pub fn sent(&self) -> Vec<OutgoingMail> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<OutgoingMail>> {
        // A test that panicked while holding the lock has failed already; keep going.
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryMailer")
            .field("sent", &self.lock().len())
            .finish()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        mail.validate()?;
        self.lock().push(mail.clone());
        Ok(())
    }
}
