//! `GET /v1/metrics` (spec/rest-api.md, section 16): Prometheus text format 0.0.4. The gateway's
//! own series (request latency, SSE backpressure closes) live in [`Metrics`], one per router;
//! everything about the daemon and its pacts is read from the control plane on each scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use openpact_proto::v1;

/// Upper bounds of the request latency buckets, seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The gateway's own series.
#[derive(Debug, Default)]
pub struct Metrics {
    sse_backpressure_closes: AtomicU64,
    requests: Mutex<BTreeMap<RequestKey, Histogram>>,
}

/// The labels of a request series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Per bucket, not cumulative; the last slot is `+Inf`.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Metrics {
    /// Counts an SSE client closed for backpressure.
    pub fn sse_backpressure_closed(&self) {
        self.sse_backpressure_closes.fetch_add(1, Ordering::Relaxed);
    }

    /// SSE clients closed for backpressure so far.
    pub fn sse_backpressure_closes(&self) -> u64 {
        self.sse_backpressure_closes.load(Ordering::Relaxed)
    }

    /// Records one answered request. `route` is the route's pattern, never the raw path, so the
    /// series stay few.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let key = RequestKey {
            method: method.to_string(),
            route: route.to_string(),
            status,
        };
        let slot = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = requests.entry(key).or_default();
        h.counts[slot] += 1;
        h.sum += seconds;
        h.count += 1;
    }

    /// The text exposition of every metric: the gateway's own and the control plane's `host`
    /// and `pacts` statuses.
    pub fn render(&self, host: &v1::HostStatusResponse, pacts: &[v1::PactStatus]) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: String| vec![(String::new(), v)];
        let per_pact = |f: &dyn Fn(&v1::PactStatus) -> u64| -> Vec<(String, String)> {
            pacts
                .iter()
                .map(|p| (format!("{{pact_id=\"{}\"}}", p.pact_id), f(p).to_string()))
                .collect()
        };
        metric(
            "openpact_process_uptime_seconds",
            "gauge",
            "Seconds since the daemon started.",
            &one(format!("{:.3}", host.uptime_ms as f64 / 1000.0)),
        );
        metric(
            "openpact_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the daemon process, bytes.",
            &one(host.resident_memory_bytes.to_string()),
        );
        metric(
            "openpact_process_heap_used_bytes",
            "gauge",
            "Heap in use, bytes (not measured by this daemon: no series).",
            &[],
        );
        metric(
            "openpact_pacts_total",
            "gauge",
            "Pacts in the registry.",
            &one(host.pact_count.to_string()),
        );
        metric(
            "openpact_pacts_open",
            "gauge",
            "Pacts open in memory.",
            &one(host.pacts_open.to_string()),
        );
        metric(
            "openpact_agents_connected",
            "gauge",
            "Peer connections, host-wide.",
            &one(host.agents.to_string()),
        );
        metric(
            "openpact_sse_backpressure_closes_total",
            "counter",
            "SSE clients closed because their unsent buffer passed the threshold.",
            &one(self.sse_backpressure_closes().to_string()),
        );
        // One series per open pact, labelled by its id.
        type PerPact = (
            &'static str,
            &'static str,
            &'static str,
            fn(&v1::PactStatus) -> u64,
        );
        let per_pact_metrics: [PerPact; 12] = [
            (
                "openpact_pact_view_version",
                "gauge",
                "View height per open pact: entries applied in the ledger order.",
                |p| p.entries,
            ),
            (
                "openpact_pact_is_indexer",
                "gauge",
                "1 when the local role is indexer or creator, else 0.",
                |p| u64::from(p.is_indexer),
            ),
            (
                "openpact_pact_members_online",
                "gauge",
                "Online members, this peer included when it is one.",
                |p| u64::from(p.agents),
            ),
            (
                "openpact_pact_positions",
                "gauge",
                "Positions in the pact's ledger order (applied entries).",
                |p| p.entries,
            ),
            (
                "openpact_pact_confirmed_length",
                "gauge",
                "Positions confirmed by a majority of indexers (final).",
                |p| p.confirmed,
            ),
            (
                "openpact_pact_tail_length",
                "gauge",
                "Positions applied but not yet confirmed.",
                |p| p.tail,
            ),
            (
                "openpact_pact_entries_stored",
                "gauge",
                "Entries stored, ordered or not.",
                |p| p.stored,
            ),
            (
                "openpact_pact_peer_sessions",
                "gauge",
                "Live sync sessions with peers.",
                |p| p.peers.len() as u64,
            ),
            (
                "openpact_sync_entries_pulled_total",
                "counter",
                "Entries pulled from peers and stored.",
                |p| p.sync_pulled_total,
            ),
            (
                "openpact_sync_entries_served_total",
                "counter",
                "Entries served to peers.",
                |p| p.sync_served_total,
            ),
            (
                "openpact_sync_bytes_received_total",
                "counter",
                "Bytes of entries received from peers.",
                |p| p.sync_bytes_in_total,
            ),
            (
                "openpact_sync_bytes_sent_total",
                "counter",
                "Bytes of entries sent to peers.",
                |p| p.sync_bytes_out_total,
            ),
        ];
        for (name, kind, help, value) in per_pact_metrics {
            metric(name, kind, help, &per_pact(&value));
        }
        let _ = writeln!(
            out,
            "# HELP openpact_http_request_duration_seconds REST request latency, to the response head."
        );
        let _ = writeln!(
            out,
            "# TYPE openpact_http_request_duration_seconds histogram"
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for (k, h) in &requests {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                escape(&k.method),
                escape(&k.route),
                k.status
            );
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                let _ = writeln!(
                    out,
                    "openpact_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "openpact_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "openpact_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "openpact_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A request being timed, from before the guards run to its response head; counted by method,
/// route (the matched pattern, or `unmatched`) and status.
pub struct Timing {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
}

impl Timing {
    /// Starts timing `req`.
    pub fn start(req: &Request) -> Timing {
        Timing {
            started: Instant::now(),
            method: req.method().clone(),
            route: req.extensions().get::<MatchedPath>().cloned(),
        }
    }

    /// Counts the request with its answer.
    pub fn finish(self, metrics: &Metrics, response: &Response) {
        metrics.observe(
            self.method.as_str(),
            self.route.as_ref().map_or("unmatched", |p| p.as_str()),
            response.status().as_u16(),
            self.started.elapsed().as_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_help_and_type_even_without_series() {
        let m = Metrics::default();
        m.observe("GET", "/v1/ping", 200, 0.002);
        m.sse_backpressure_closed();
        let text = m.render(&v1::HostStatusResponse::default(), &[]);
        for name in [
            "openpact_process_uptime_seconds",
            "openpact_process_resident_memory_bytes",
            "openpact_pacts_total",
            "openpact_agents_connected",
            "openpact_sse_backpressure_closes_total",
            "openpact_pact_view_version",
            "openpact_pact_is_indexer",
            "openpact_http_request_duration_seconds",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert!(text.contains("openpact_sse_backpressure_closes_total 1\n"));
        assert!(text.contains(
            "openpact_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/ping\",status=\"200\",le=\"0.0025\"} 1\n"
        ));
        assert!(text.contains(
            "openpact_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/ping\",status=\"200\",le=\"0.001\"} 0\n"
        ));
        assert!(text.ends_with('\n'));
    }
}
