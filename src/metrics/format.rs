//! The text formats `GET /metrics` answers in.

/// The two text formats a scraper may ask for (by its `Accept` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, what Prometheus asks for.
    OpenMetrics,
    /// The classic Prometheus text format (0.0.4), for everything else (curl, promtool).
    PrometheusText,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn accepted(accept: Option<&str>) -> Format {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::PrometheusText,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}
