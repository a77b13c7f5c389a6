//! A recording layer, installed beside the cohort layer, so tests see what
//! every other layer of a subscriber would see.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use cohort::{ErrorGroup, Group, Policy};
use cohort_layer::{CohortHandle, CohortLayer};
use tracing::dispatcher::DefaultGuard;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// One event as a layer saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub name: String,
    pub level: Level,
    /// Field values: strings as they are, everything else by `Debug`.
    pub fields: BTreeMap<String, String>,
    /// The name of the event's span.
    pub span: Option<String>,
}

impl Seen {
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map(String::as_str).unwrap_or("")
    }

    pub fn u64(&self, field: &str) -> u64 {
        self.get(field)
            .parse()
            .unwrap_or_else(|_| panic!("{field} of {self:?}"))
    }
}

#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    pub fn events(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn named(&self, name: &str) -> Vec<Seen> {
        self.events()
            .into_iter()
            .filter(|e| e.name == name)
            .collect()
    }

    pub fn leaves(&self) -> Vec<Seen> {
        self.named(cohort_layer::LEAF)
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let seen = Seen {
            name: event.metadata().name().to_owned(),
            level: *event.metadata().level(),
            fields,
            span: ctx.event_span(event).map(|s| s.name().to_owned()),
        };
        self.0.lock().unwrap().push(seen);
    }
}

/// A subscriber of the recorder and a cohort layer (last, and with its own
/// filter, as documented), the default on this thread while the guard lives.
pub fn install() -> (Recorder, CohortHandle, DefaultGuard) {
    install_layer(CohortLayer::new())
}

pub fn install_layer(layer: CohortLayer) -> (Recorder, CohortHandle, DefaultGuard) {
    let recorder = Recorder::default();
    let handle = layer.handle();
    let guard = tracing_subscriber::registry()
        .with(recorder.clone())
        .with(layer.filtered())
        .set_default();
    (recorder, handle, guard)
}

/// An error type per failure kind of the tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

#[derive(Debug, Clone, PartialEq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid: {}", self.0)
    }
}

impl std::error::Error for Invalid {}

/// Never resolves.
pub async fn forever<T>() -> Result<T, Refused> {
    std::future::pending().await
}

/// A group whose child runs a supervise group in which two children fail,
/// with different error types: the outer group's error, two levels deep.
pub async fn nested_failures() -> ErrorGroup {
    let outer = Group::new("outer");
    outer
        .spawn("inventory", async {
            let inner = Group::builder("shards")
                .policy(Policy::Supervise)
                .build()
                .unwrap();
            inner
                .spawn("eu", async { Err::<(), _>(Refused("eu".into())) })
                .unwrap();
            inner
                .spawn("us", async { Err::<(), _>(Invalid("us".into())) })
                .unwrap();
            inner.join().await
        })
        .unwrap();
    outer.join().await.unwrap_err()
}
