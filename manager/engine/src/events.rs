//! The engine's event bus: one broadcast channel for the whole daemon.
//! Operations publish typed events as they happen (a container started, an
//! image was tagged, a network was removed); front doors and the engine's
//! own services (restart policies, health checks, the events log) subscribe.
//!
//! Publishing never waits: the channel is bounded, and a subscriber that
//! falls behind by more than [`CAPACITY`] events is told how many it missed
//! ([`Lagged`]) and decides whether to go on or to drop out, so a slow
//! follower never slows the engine.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for subscribers that have not read them yet.
pub const CAPACITY: usize = 1024;

/// What an event is about (docker's event "Type").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Container,
    Image,
    Network,
    Volume,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Container => "container",
            Scope::Image => "image",
            Scope::Network => "network",
            Scope::Volume => "volume",
        }
    }
}

/// What happened (docker's event "Action"): the names are docker's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // containers
    Create,
    Start,
    /// The container's process ended, with its exit code.
    Die {
        exit_code: i32,
    },
    Kill {
        signal: String,
    },
    Stop,
    Restart,
    Rename {
        old_name: String,
    },
    Destroy,
    ExecCreate,
    ExecStart,
    ExecDie {
        exit_code: i32,
    },
    // images
    Pull,
    Push,
    Tag,
    Untag,
    Delete,
    Load,
    Save,
    Import,
    // networks
    Connect {
        container: String,
    },
    Disconnect {
        container: String,
    },
}

impl Action {
    /// docker's name of the action ("die", "exec_start", ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Start => "start",
            Action::Die { .. } => "die",
            Action::Kill { .. } => "kill",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Rename { .. } => "rename",
            Action::Destroy => "destroy",
            Action::ExecCreate => "exec_create",
            Action::ExecStart => "exec_start",
            Action::ExecDie { .. } => "exec_die",
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Tag => "tag",
            Action::Untag => "untag",
            Action::Delete => "delete",
            Action::Load => "load",
            Action::Save => "save",
            Action::Import => "import",
            Action::Connect { .. } => "connect",
            Action::Disconnect { .. } => "disconnect",
        }
    }
}

/// One event: when, in which namespace, about what, and docker's
/// attributes (name, image, exitCode, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    pub namespace: String,
    pub scope: Scope,
    pub action: Action,
    /// The object's id (a container id, an image id or reference, a
    /// network id).
    pub id: String,
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    /// An event of now.
    pub fn new(namespace: &str, scope: Scope, action: Action, id: &str) -> Event {
        let time_nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        Event {
            time_nanos,
            namespace: namespace.to_string(),
            scope,
            action,
            id: id.to_string(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds an attribute.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Event {
        self.attributes.insert(key.to_string(), value.into());
        self
    }
}

/// A subscriber fell behind and missed this many events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged(pub u64);

/// The daemon-wide bus.
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    /// Publishes an event; never blocks, and is a no-op without
    /// subscribers.
    pub fn publish(&self, event: Event) {
        tracing::debug!(
            namespace = %event.namespace,
            scope = event.scope.as_str(),
            action = event.action.name(),
            id = %event.id,
            "event"
        );
        let _ = self.tx.send(event);
    }

    /// A new subscriber: it sees every event published from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
        }
    }
}

/// One subscriber's end of the bus.
pub struct Subscription {
    rx: broadcast::Receiver<Event>,
}

impl Subscription {
    /// The next event; `Err(Lagged(n))` when `n` events were missed (the
    /// next call goes on after them); `None` once the engine is gone.
    pub async fn next(&mut self) -> Option<Result<Event, Lagged>> {
        match self.rx.recv().await {
            Ok(e) => Some(Ok(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Err(Lagged(n))),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_events_in_order_and_a_laggard_is_told() {
        let bus = EventBus::default();
        // Publishing without subscribers is fine.
        bus.publish(Event::new("default", Scope::Image, Action::Pull, "x"));
        let mut sub = bus.subscribe();
        bus.publish(
            Event::new(
                "default",
                Scope::Container,
                Action::Die { exit_code: 3 },
                "c1",
            )
            .with("exitCode", "3"),
        );
        bus.publish(Event::new(
            "default",
            Scope::Container,
            Action::Destroy,
            "c1",
        ));
        let first = sub.next().await.unwrap().unwrap();
        assert_eq!(first.action, Action::Die { exit_code: 3 });
        assert_eq!(first.action.name(), "die");
        assert_eq!(first.attributes["exitCode"], "3");
        assert_eq!(sub.next().await.unwrap().unwrap().action, Action::Destroy);

        for i in 0..CAPACITY + 5 {
            bus.publish(Event::new(
                "default",
                Scope::Image,
                Action::Tag,
                &i.to_string(),
            ));
        }
        assert_eq!(sub.next().await.unwrap(), Err(Lagged(5)));
        assert_eq!(sub.next().await.unwrap().unwrap().id, "5");
        drop(bus);
        // The remaining events drain, then the end.
        let mut n = 1;
        while let Some(e) = sub.next().await {
            e.unwrap();
            n += 1;
        }
        assert_eq!(n, CAPACITY);
    }
}
