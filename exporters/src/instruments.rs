//! The metrics of `docs/telemetry.md` as OpenTelemetry instruments, fed by
//! the cohort layer: a [`MetricSink`] that records each [`Measurement`] into
//! the SDK's own (cheap, lock-free) instruments as it happens.

use cohort_layer::{GroupRun, Measurement, MetricSink, RATE_BOUNDS};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, UpDownCounter};

/// Every cohort instrument, built once from a meter.
pub(crate) struct Instruments {
    runs: Counter<u64>,
    duration: Histogram<f64>,
    partial_failure_rate: Histogram<f64>,
    last_partial_failure_rate: Gauge<f64>,
    spawned: Counter<u64>,
    failed: Counter<u64>,
    cancelled: Counter<u64>,
    errors: Counter<u64>,
    unhandled: Counter<u64>,
    cancel_latency: Histogram<f64>,
    leaked: Counter<u64>,
    unresponsive: Counter<u64>,
    active: UpDownCounter<i64>,
}

impl Instruments {
    /// The instruments, the duration histograms with `seconds` as bounds.
    pub fn new(meter: &Meter, seconds: &[f64]) -> Self {
        let counter = |name: &'static str, unit: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_unit(unit)
                .with_description(description)
                .build()
        };
        let histogram = |name: &'static str, unit: &'static str, bounds: &[f64], description| {
            meter
                .f64_histogram(name)
                .with_unit(unit)
                .with_description(description)
                .with_boundaries(bounds.to_vec())
                .build()
        };
        Self {
            runs: counter("cohort.group.runs", "{run}", "Group runs, by outcome"),
            duration: histogram(
                "cohort.group.duration",
                "s",
                seconds,
                "From a group's creation to the end of its run",
            ),
            partial_failure_rate: histogram(
                "cohort.group.partial_failure_rate",
                "1",
                RATE_BOUNDS,
                "Failed children over spawned children, per run",
            ),
            last_partial_failure_rate: meter
                .f64_gauge("cohort.group.partial_failure_rate.last")
                .with_unit("1")
                .with_description("The partial-failure rate of the group's last run")
                .build(),
            spawned: counter("cohort.children.spawned", "{child}", "Children admitted"),
            failed: counter(
                "cohort.children.failed",
                "{child}",
                "Children (and scope bodies) that failed or panicked",
            ),
            cancelled: counter(
                "cohort.children.cancelled",
                "{child}",
                "Children stopped by cancellation, by cause",
            ),
            errors: counter(
                "cohort.child.errors",
                "{error}",
                "Child failures by error type",
            ),
            unhandled: counter(
                "cohort.errors.unhandled",
                "{error}",
                "Leaves a catch chain handed back unmatched, by error type",
            ),
            cancel_latency: histogram(
                "cohort.child.cancel_latency",
                "s",
                seconds,
                "From a group's cancel request to the end of its run",
            ),
            leaked: counter(
                "cohort.tasks.leaked",
                "{task}",
                "Tasks spawned in a group, not by it, that outlived it",
            ),
            unresponsive: counter(
                "cohort.children.unresponsive",
                "{child}",
                "Children still running a set time after their group cancelled them",
            ),
            active: meter
                .i64_up_down_counter("cohort.groups.active")
                .with_unit("{group}")
                .with_description("Groups open now")
                .build(),
        }
    }

    fn run(&self, run: &GroupRun<'_>) {
        let group = KeyValue::new("group.name", run.group.to_owned());
        let with_outcome = [
            group.clone(),
            KeyValue::new("group.outcome", run.outcome.to_owned()),
        ];
        let group = std::slice::from_ref(&group);
        self.active.add(-1, group);
        self.runs.add(1, &with_outcome);
        self.duration
            .record(run.duration.as_secs_f64(), &with_outcome);
        if let Some(rate) = run.partial_failure_rate {
            self.partial_failure_rate.record(rate, group);
            self.last_partial_failure_rate.record(rate, group);
        }
        self.spawned.add(run.spawned, group);
        self.failed.add(run.failed, group);
        if run.cancelled > 0 {
            let attrs = [
                group[0].clone(),
                KeyValue::new("cancel.cause", run.cause.as_str()),
            ];
            self.cancelled.add(run.cancelled, &attrs);
        }
        if let Some(latency) = run.cancel_latency {
            self.cancel_latency.record(latency.as_secs_f64(), group);
        }
    }
}

impl MetricSink for Instruments {
    fn record(&self, measurement: &Measurement<'_>) {
        match measurement {
            Measurement::GroupOpened { group } => {
                self.active
                    .add(1, &[KeyValue::new("group.name", group.to_string())]);
            }
            Measurement::GroupRun(run) => self.run(run),
            Measurement::ChildError { group, error_type } => self.errors.add(
                1,
                &[
                    KeyValue::new("group.name", group.to_string()),
                    KeyValue::new("error.type", error_type.to_string()),
                ],
            ),
            Measurement::Unhandled { group, error_type } => self.unhandled.add(
                1,
                &[
                    KeyValue::new("group.name", group.to_string()),
                    KeyValue::new("error.type", error_type.to_string()),
                ],
            ),
            Measurement::ChildUnresponsive { group } => self
                .unresponsive
                .add(1, &[KeyValue::new("group.name", group.to_string())]),
            Measurement::TaskLeaked { group, location } => self.leaked.add(
                1,
                &[
                    KeyValue::new("group.name", group.to_string()),
                    KeyValue::new("code.location", location.to_string()),
                ],
            ),
            // A measurement this version does not know yet: nothing to map.
            _ => {}
        }
    }
}
