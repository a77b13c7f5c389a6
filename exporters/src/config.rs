//! Where and how to export: the standard `OTEL_*` variables, then what code
//! overrides, checked before anything is built.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::InitError;

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP over gRPC (port 4317 by convention). The default.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (port 4318 by convention).
    HttpProtobuf,
}

impl Protocol {
    /// The value of `OTEL_EXPORTER_OTLP_PROTOCOL` for this transport.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            "http/json" => Err("http/json is not supported; use grpc or http/protobuf".into()),
            other => Err(format!(
                "unknown protocol {other:?}; use grpc or http/protobuf"
            )),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A telemetry signal, each with its own endpoint and protocol variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All three, in the order they are built.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The signal in prose: `traces`, `metrics`, `logs`.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
        }
    }

    fn var(self) -> &'static str {
        match self {
            Self::Traces => "TRACES",
            Self::Metrics => "METRICS",
            Self::Logs => "LOGS",
        }
    }

    /// The path an HTTP endpoint gets for this signal.
    fn http_path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Metrics => "/v1/metrics",
            Self::Logs => "/v1/logs",
        }
    }
}

/// Where one signal goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The full URL: for HTTP, with the signal's path.
    pub endpoint: String,
    /// The transport.
    pub protocol: Protocol,
}

/// The resolved settings, from the environment and code overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `service.name`.
    pub service_name: String,
    /// Resource attributes (from `OTEL_RESOURCE_ATTRIBUTES`, then code).
    pub resource: BTreeMap<String, String>,
    /// Where each signal goes; a signal with no endpoint is not exported.
    pub targets: BTreeMap<Signal, Target>,
    /// How often metrics are pushed.
    pub metric_interval: Duration,
}

/// What code sets over the environment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub service_name: Option<String>,
    pub endpoint: Option<String>,
    pub protocol: Option<Protocol>,
    pub metric_interval: Option<Duration>,
    pub resource: Vec<(String, String)>,
    pub disabled: bool,
}

/// The default metric export interval (`OTEL_METRIC_EXPORT_INTERVAL`).
pub const DEFAULT_METRIC_INTERVAL: Duration = Duration::from_secs(60);

impl Settings {
    /// Reads the `OTEL_*` variables through `var` (the process environment in
    /// [`Builder::init`](crate::Builder::init); a map in tests), then applies
    /// the code's overrides. Every value is checked here.
    pub(crate) fn resolve(
        var: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, InitError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());

        let mut resource = BTreeMap::new();
        if let Some(attrs) = var("OTEL_RESOURCE_ATTRIBUTES") {
            resource.extend(resource_attributes(&attrs)?);
        }
        for (key, value) in &overrides.resource {
            resource.insert(key.clone(), value.clone());
        }
        let service_name = overrides
            .service_name
            .clone()
            .or_else(|| var("OTEL_SERVICE_NAME"))
            .or_else(|| resource.get("service.name").cloned())
            .unwrap_or_else(|| "unknown_service".to_owned());

        let metric_interval = match (
            overrides.metric_interval,
            var("OTEL_METRIC_EXPORT_INTERVAL"),
        ) {
            (Some(interval), _) => interval,
            (None, Some(ms)) => match ms.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(InitError::invalid(
                        "OTEL_METRIC_EXPORT_INTERVAL",
                        &ms,
                        "a positive number of milliseconds",
                    ));
                }
            },
            (None, None) => DEFAULT_METRIC_INTERVAL,
        };
        if metric_interval.is_zero() {
            return Err(InitError::invalid(
                "metric_interval",
                "0",
                "must be positive",
            ));
        }

        let sdk_disabled = sdk_disabled(var("OTEL_SDK_DISABLED"))?;
        let mut targets = BTreeMap::new();
        if !(overrides.disabled || sdk_disabled) {
            let protocol = match overrides.protocol {
                Some(p) => p,
                None => {
                    protocol_var(&var, "OTEL_EXPORTER_OTLP_PROTOCOL")?.unwrap_or(Protocol::Grpc)
                }
            };
            let base = match &overrides.endpoint {
                Some(endpoint) => Some(("endpoint", endpoint.clone())),
                None => {
                    var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| ("OTEL_EXPORTER_OTLP_ENDPOINT", e))
                }
            };
            for signal in Signal::ALL {
                let endpoint_var = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.var());
                let protocol_name = format!("OTEL_EXPORTER_OTLP_{}_PROTOCOL", signal.var());
                let protocol = match overrides.protocol {
                    Some(p) => p,
                    None => protocol_var(&var, &protocol_name)?.unwrap_or(protocol),
                };
                // A code override wins; a per-signal variable is used as it
                // is; the general one gets the signal's path under HTTP.
                let (source, endpoint, as_is) = match (&overrides.endpoint, var(&endpoint_var)) {
                    (None, Some(e)) => (endpoint_var.as_str(), e, true),
                    _ => match &base {
                        Some((source, e)) => (*source, e.clone(), false),
                        None => continue,
                    },
                };
                let endpoint = check_endpoint(source, &endpoint)?;
                let endpoint = match protocol {
                    Protocol::HttpProtobuf if !as_is => {
                        format!("{}{}", endpoint.trim_end_matches('/'), signal.http_path())
                    }
                    _ => endpoint,
                };
                targets.insert(signal, Target { endpoint, protocol });
            }
        }

        resource.insert("service.name".to_owned(), service_name.clone());
        Ok(Self {
            service_name,
            resource,
            targets,
            metric_interval,
        })
    }
}

fn protocol_var(
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<Protocol>, InitError> {
    var(name)
        .map(|value| {
            value
                .parse()
                .map_err(|why: String| InitError::invalid(name, &value, why))
        })
        .transpose()
}

/// An endpoint must be an absolute `http://` or `https://` URL with a host.
fn check_endpoint(source: &str, endpoint: &str) -> Result<String, InitError> {
    let endpoint = endpoint.trim();
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e: http::uri::InvalidUri| InitError::invalid(source, endpoint, e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(InitError::invalid(
                source,
                endpoint,
                format!("scheme {other:?} is not http or https"),
            ));
        }
        None => {
            return Err(InitError::invalid(
                source,
                endpoint,
                "no scheme: write it as http://host:port",
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(InitError::invalid(source, endpoint, "no host"));
    }
    // `http::Uri` drops a port it cannot read (`:99999`, `:-1`, `:port`)
    // instead of refusing it, so the authority's own text is checked.
    let authority = uri.authority().map_or("", |a| a.as_str());
    if let Some(port) = port_text(authority) {
        if !port.is_empty() && !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(InitError::invalid(
                source,
                endpoint,
                format!("port {port:?} is not a number from 1 to 65535"),
            ));
        }
    }
    Ok(endpoint.to_owned())
}

/// The port of an authority (`user@host:port`, `[v6]:port`) as written,
/// if it has one.
fn port_text(authority: &str) -> Option<&str> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => host_port,
    };
    after_host.rsplit_once(':').map(|(_, port)| port)
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, keys
/// and values percent-encoded (the W3C Baggage octets), as the OpenTelemetry
/// specification writes them.
fn resource_attributes(attrs: &str) -> Result<Vec<(String, String)>, InitError> {
    let invalid = |why: String| InitError::invalid("OTEL_RESOURCE_ATTRIBUTES", attrs, why);
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part.trim())
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| invalid(format!("{part:?} is not UTF-8 once percent-decoded")))
    };
    let mut pairs = Vec::new();
    for pair in attrs.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(invalid(format!("{pair:?} is not key=value")));
        };
        let key = decode(key)?;
        if key.is_empty() {
            return Err(invalid(format!("{pair:?} has no key")));
        }
        pairs.push((key, decode(value)?));
    }
    Ok(pairs)
}

/// `OTEL_SDK_DISABLED`: `true` or `false`, in any case. Anything else is
/// refused rather than read as `false`, which would export from a service
/// whose owner meant to turn export off (`1`, `yes`).
fn sdk_disabled(value: Option<String>) -> Result<bool, InitError> {
    let Some(value) = value else {
        return Ok(false);
    };
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(InitError::invalid(
            "OTEL_SDK_DISABLED",
            &value,
            "must be true or false",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(vars: &[(&str, &str)], overrides: Overrides) -> Result<Settings, InitError> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::resolve(&|name| vars.get(name).cloned(), &overrides)
    }

    #[test]
    fn nothing_set_exports_nothing() {
        let s = resolve(&[], Overrides::default()).unwrap();
        assert!(s.targets.is_empty());
        assert_eq!(s.service_name, "unknown_service");
        assert_eq!(s.metric_interval, DEFAULT_METRIC_INTERVAL);
    }

    #[test]
    fn the_general_endpoint_gets_signal_paths_under_http_only() {
        let grpc = resolve(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")],
            Overrides::default(),
        )
        .unwrap();
        assert!(grpc.targets.values().all(|t| t.endpoint == "http://c:4317"));
        assert!(grpc.targets.values().all(|t| t.protocol == Protocol::Grpc));
        let http = resolve(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                (
                    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                    "http://logs:9000/ingest",
                ),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            http.targets[&Signal::Traces].endpoint,
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            http.targets[&Signal::Metrics].endpoint,
            "http://c:4318/v1/metrics"
        );
        assert_eq!(
            http.targets[&Signal::Logs].endpoint,
            "http://logs:9000/ingest"
        );
    }

    #[test]
    fn per_signal_variables_and_code_overrides() {
        let s = resolve(
            &[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4317"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4317"),
                ("OTEL_SERVICE_NAME", "checkout"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod, team=pay",
                ),
                ("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.targets[&Signal::Traces].endpoint, "http://t:4317");
        assert_eq!(s.targets[&Signal::Metrics].protocol, Protocol::HttpProtobuf);
        assert_eq!(
            s.targets[&Signal::Metrics].endpoint,
            "http://all:4317/v1/metrics"
        );
        assert_eq!(s.service_name, "checkout");
        assert_eq!(s.resource["team"], "pay");
        assert_eq!(s.resource["service.name"], "checkout");
        assert_eq!(s.metric_interval, Duration::from_secs(5));

        let code = Overrides {
            service_name: Some("billing".into()),
            endpoint: Some("http://code:4317".into()),
            ..Overrides::default()
        };
        let s = resolve(
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4317")],
            code,
        )
        .unwrap();
        assert!(s.targets.values().all(|t| t.endpoint == "http://code:4317"));
        assert_eq!(s.service_name, "billing");
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for (var, value, says) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp", "unknown protocol"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "not supported"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317", "scheme"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://", "invalid"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "ftp://c:21",
                "not http or https",
            ),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://exa mple:4317",
                "invalid",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:99999", "port"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:-1", "port"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:port", "port"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:0", "port"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://u@c:70000/", "port"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://[::1]:4317x",
                "invalid",
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "soon", "milliseconds"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team", "key=value"),
            ("OTEL_RESOURCE_ATTRIBUTES", "=pay", "no key"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=%FF", "UTF-8"),
            ("OTEL_SDK_DISABLED", "1", "true or false"),
        ] {
            let mut vars = vec![(var, value)];
            if var != "OTEL_EXPORTER_OTLP_ENDPOINT" {
                vars.push(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"));
            }
            let err = resolve(&vars, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(var) && err.contains(says),
                "{var}={value}: {err}"
            );
        }
    }

    #[test]
    fn disabled_exports_nothing_in_any_case() {
        for (value, exports) in [
            ("true", false),
            ("TRUE", false),
            (" True ", false),
            ("false", true),
            ("FALSE", true),
            ("", true),
        ] {
            let s = resolve(
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                    ("OTEL_SDK_DISABLED", value),
                ],
                Overrides::default(),
            )
            .unwrap();
            assert_eq!(
                !s.targets.is_empty(),
                exports,
                "OTEL_SDK_DISABLED={value:?}"
            );
        }
    }

    #[test]
    fn good_endpoints_pass_as_written() {
        for endpoint in [
            "http://c:4317",
            "https://c:65535/otlp",
            "http://[::1]:4317",
            "http://[::1]",
            "http://user@c:4318",
            "http://c",
        ] {
            let s = resolve(
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)],
                Overrides::default(),
            )
            .unwrap_or_else(|e| panic!("{endpoint}: {e}"));
            assert_eq!(s.targets[&Signal::Traces].endpoint, endpoint);
        }
    }

    #[test]
    fn resource_attributes_are_percent_decoded() {
        let s = resolve(
            &[(
                "OTEL_RESOURCE_ATTRIBUTES",
                "team=a%2Cb, note=x%3Dy%20z,k%C3%A9y=caf%C3%A9,empty=",
            )],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.resource["team"], "a,b");
        assert_eq!(s.resource["note"], "x=y z");
        assert_eq!(s.resource["kéy"], "café");
        assert_eq!(s.resource["empty"], "");
    }
}
