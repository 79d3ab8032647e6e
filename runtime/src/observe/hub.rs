//! The subscribers of one instance, or of the whole process.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::broadcast;

use super::Event;

/// Events queued for a subscriber that has not read them; older ones are dropped past it (the
/// receiver then reads `RecvError::Lagged`).
const CAPACITY: usize = 64;

/// Whether any hub of the process was ever subscribed to: until then, an event is not even
/// built.
static ANYBODY: AtomicBool = AtomicBool::new(false);

#[inline]
pub(crate) fn anybody_listens() -> bool {
    ANYBODY.load(Ordering::Relaxed)
}

/// A broadcast channel made on the first `subscribe()`: before that, an event costs one load.
#[derive(Debug, Default)]
pub struct Hub {
    sender: OnceLock<broadcast::Sender<Event>>,
    listened: AtomicBool,
    /// The keys of the instance's metrics, found at its first event.
    #[cfg(feature = "metrics")]
    keys: OnceLock<&'static crate::metrics::Keys>,
}

impl Hub {
    /// A hub nobody listens to yet.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            sender: OnceLock::new(),
            listened: AtomicBool::new(false),
            #[cfg(feature = "metrics")]
            keys: OnceLock::new(),
        }
    }

    /// The keys of the metrics of the instance named `name`, which this hub is.
    #[cfg(feature = "metrics")]
    pub(crate) fn keys(&self, name: &'static str) -> &'static crate::metrics::Keys {
        self.keys.get_or_init(|| crate::metrics::Keys::of(name))
    }

    /// A receiver of every event sent from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        let receiver = self
            .sender
            .get_or_init(|| broadcast::Sender::new(CAPACITY))
            .subscribe();
        self.listened.store(true, Ordering::Relaxed);
        ANYBODY.store(true, Ordering::Relaxed);
        receiver
    }

    /// Whether anybody ever subscribed.
    #[inline]
    pub(crate) fn is_listened(&self) -> bool {
        self.listened.load(Ordering::Relaxed)
    }

    pub(crate) fn send(&self, event: &Event) {
        if let Some(sender) = self.sender.get() {
            // No receiver left is not an error: subscribing is optional.
            let _ = sender.send(event.clone());
        }
    }
}
