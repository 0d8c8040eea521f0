//! Logs go to stderr (stdout belongs to command output and to MCP over stdio), as readable lines
//! or as one JSON object per line. With `log.otlp_endpoint`, the same `tracing` spans are also
//! sent as OpenTelemetry traces over OTLP (HTTP or gRPC), and W3C trace context (`traceparent`)
//! is read from requests and passed on to providers.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogConfig, LogFormat, OtlpProtocol};

/// What keeps traces flowing: dropped at the end of `main`, it sends the spans still queued.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// Drives the gRPC exporter's connection (tonic needs a Tokio runtime); its own, so that
    /// spans still leave while the main runtime shuts down.
    _runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!("traces still queued could not be sent: {e}");
        }
    }
}

/// Starts logging (and tracing, with `log.otlp_endpoint`); `default_level` applies when neither
/// `RUST_LOG` nor `log.level` is set.
pub fn init(config: &LogConfig, default_level: &str) -> anyhow::Result<Telemetry> {
    // `RUST_LOG` wins over the configured level, as Rust users expect; the configured level was
    // validated at start-up, so the fallback never applies to a user's typo.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(config.level.as_deref().unwrap_or(default_level)))
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = match config.format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_span_list(false).boxed(),
    };
    let (telemetry, otel) = match &config.otlp_endpoint {
        None => (Telemetry { provider: None, _runtime: None }, None),
        Some(endpoint) => {
            let (provider, runtime) = tracer_provider(endpoint, config.otlp_protocol)?;
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("agentwatch"));
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            (Telemetry { provider: Some(provider), _runtime: runtime }, Some(layer))
        }
    };
    tracing_subscriber::registry().with(filter).with(fmt).with(otel).init();
    Ok(telemetry)
}

/// A tracer provider sending batches of spans (every second, or 512 at a time) to `endpoint`.
fn tracer_provider(
    endpoint: &str,
    protocol: OtlpProtocol,
) -> anyhow::Result<(SdkTracerProvider, Option<tokio::runtime::Runtime>)> {
    let endpoint = endpoint.trim_end_matches('/');
    let timeout = Duration::from_secs(10);
    let (exporter, runtime) = match protocol {
        OtlpProtocol::Http => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{endpoint}/v1/traces"))
                .with_timeout(timeout)
                .build();
            (exporter, None)
        }
        OtlpProtocol::Grpc => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("otlp-export")
                .enable_all()
                .build()
                .context("cannot start the thread that sends traces")?;
            let _entered = runtime.enter();
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(timeout)
                .build();
            (exporter, Some(runtime))
        }
    };
    let exporter = exporter.with_context(|| format!("log.otlp_endpoint {endpoint}"))?;
    let batches =
        BatchConfigBuilder::default().with_scheduled_delay(Duration::from_secs(1)).build();
    let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batches).build();
    let resource = Resource::builder()
        .with_service_name("agentwatch")
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider =
        SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
    Ok((provider, runtime))
}
