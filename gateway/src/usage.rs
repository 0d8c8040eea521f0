//! Usage records leave the response path at once: handlers hand them to a channel, and one writer
//! task stores them in batches (one transaction per batch). On shutdown the writer drains the
//! channel before it returns, so no record is lost.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::alerts::Alerts;
use crate::budget::Budgets;
use crate::metrics::Metrics;
use crate::pricing::Tokens;
use crate::store::{Store, UsageRecord};

/// Records at most this many per transaction.
const BATCH: usize = 500;
/// A record waits at most this long for its batch to fill.
const LINGER: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct UsageSink {
    tx: mpsc::UnboundedSender<Message>,
    metrics: Arc<Metrics>,
    budgets: Arc<Budgets>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

#[derive(Debug)]
enum Message {
    Record(Box<UsageRecord>),
    /// Budget thresholds a settled record crossed, to go in the audit log.
    Crossings(i64, Vec<crate::budget::Crossing>),
    /// A record whose tokens are still to be counted (the provider reported none): the prompt's
    /// messages and the completion's text.
    Count(Box<(UsageRecord, serde_json::Value, String)>, crate::pricing::Prices),
    /// Write what is queued, then stop.
    Stop,
}

impl UsageSink {
    /// Starts the writer task. Each record is counted in `metrics`, and settles its budget
    /// reservation in `budgets`.
    pub fn start(
        store: Store,
        metrics: Arc<Metrics>,
        budgets: Arc<Budgets>,
        alerts: Arc<Alerts>,
    ) -> UsageSink {
        let (tx, rx) = mpsc::unbounded_channel();
        let observers = Observers {
            metrics: Arc::clone(&metrics),
            budgets: budgets.clone(),
            store: store.clone(),
            alerts,
            tx: tx.clone(),
        };
        let writer = tokio::spawn(write_batches(store, rx, observers));
        UsageSink { tx, metrics, budgets, writer: Arc::new(Mutex::new(Some(writer))) }
    }

    /// Queues a record; never waits. Its budget reservation is settled at once, so that the
    /// client's next request is weighed against what this one cost, not what it might have.
    pub fn record(&self, mut record: UsageRecord) {
        if let Some(reservation) = record.reservation.take() {
            settle(&self.budgets, &self.tx, reservation, &record);
        }
        let mut trace = std::mem::take(&mut record.trace);
        trace.finish(&record);
        if self.tx.send(Message::Record(Box::new(record))).is_err() {
            self.metrics.usage_dropped(1);
            tracing::error!("a usage record came after shutdown and is lost");
        }
    }

    /// Queues a finished request's record: with the provider's token counts when it reported
    /// them (priced here), otherwise counted by the writer from `prompt` and `completion`.
    pub fn settle(
        &self,
        mut record: UsageRecord,
        reported: Option<Tokens>,
        prompt: serde_json::Value,
        completion: String,
        prices: &crate::pricing::Prices,
    ) {
        match reported {
            Some(tokens) => {
                record.prompt_tokens = tokens.prompt;
                record.completion_tokens = tokens.completion;
                record.cache_read_tokens = tokens.cache_read;
                record.cache_write_tokens = tokens.cache_write;
                record.cost_usd = prices.cost(&record.model, &tokens);
                self.record(record);
            }
            None => self.record_counting(record, prompt, completion, prices.clone()),
        }
    }

    /// Queues a record whose tokens the writer counts (off the async threads) from `prompt`
    /// (a `messages` array) and `completion`, then prices.
    fn record_counting(
        &self,
        record: UsageRecord,
        prompt: serde_json::Value,
        completion: String,
        prices: crate::pricing::Prices,
    ) {
        let message = Message::Count(Box::new((record, prompt, completion)), prices);
        if self.tx.send(message).is_err() {
            self.metrics.usage_dropped(1);
            tracing::error!("a usage record came after shutdown and is lost");
        }
    }

    /// Stores every record queued so far and stops the writer. Call it once the servers have
    /// stopped taking requests.
    pub async fn flush_and_stop(&self) {
        // Settlements still talking to Redis report their crossings before the writer stops.
        self.budgets.finish().await;
        let writer = self.writer.lock().expect("usage writer lock").take();
        if let Some(writer) = writer {
            let _ = self.tx.send(Message::Stop);
            if let Err(e) = writer.await {
                tracing::error!(error = %e, "the usage writer failed");
            }
        }
    }
}

/// What learns of each finished request: the metrics, and the budgets its cost settles.
struct Observers {
    metrics: Arc<Metrics>,
    budgets: Arc<Budgets>,
    store: Store,
    alerts: Arc<Alerts>,
    /// The writer's own queue, where settled budgets' crossings come back to be audited.
    tx: mpsc::UnboundedSender<Message>,
}

/// Settles `record`'s reservation to its cost; the thresholds it crosses go to the audit log.
fn settle(
    budgets: &Arc<Budgets>,
    tx: &mpsc::UnboundedSender<Message>,
    reservation: u64,
    record: &UsageRecord,
) {
    let (tx, org_id) = (tx.clone(), record.org_id);
    budgets.settle(reservation, record.cost_usd, move |crossings| {
        if !crossings.is_empty() && tx.send(Message::Crossings(org_id, crossings)).is_err() {
            tracing::warn!("a budget threshold was crossed after shutdown; it is not audited");
        }
    });
}

impl Observers {
    fn observe(&self, record: &UsageRecord) {
        self.metrics.observe(record);
        if let Some(reservation) = record.reservation {
            settle(&self.budgets, &self.tx, reservation, record);
        }
    }

    async fn audit(&self, org_id: i64, crossings: Vec<crate::budget::Crossing>) {
        for crossing in crossings {
            tracing::warn!(?crossing, "a budget crossed a threshold");
            if let Err(e) = self.store.record_budget_crossing(org_id, &crossing).await {
                tracing::error!(error = %e, "cannot record a budget threshold");
            }
            self.alerts.budget(org_id, &crossing).await;
        }
    }
}

async fn write_batches(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Message>,
    observers: Observers,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut stop = false;
    while !stop {
        match rx.recv().await {
            Some(message) => stop = take(message, &mut batch, &observers).await,
            None => stop = true,
        }
        let deadline = tokio::time::Instant::now() + LINGER;
        while !stop && batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(message)) => stop = take(message, &mut batch, &observers).await,
                Ok(None) => stop = true,
                Err(_) => break,
            }
        }
        write(&store, &observers.metrics, &mut batch).await;
    }
}

/// Shows a message's record to the observers and adds it to the batch; true for the stop message.
async fn take(message: Message, batch: &mut Vec<UsageRecord>, observers: &Observers) -> bool {
    match message {
        Message::Record(r) => {
            observers.observe(&r);
            batch.push(*r);
        }
        Message::Count(job, prices) => {
            let (mut record, prompt, completion) = *job;
            let counted = tokio::task::spawn_blocking(move || {
                (tokens::count_messages(&prompt), tokens::count_text(&completion))
            })
            .await;
            let (p, c) = counted.unwrap_or((0, 0));
            record.prompt_tokens = p;
            record.completion_tokens = c;
            record.tokens_source = "tokenizer";
            record.cost_usd = prices.cost(&record.model, &Tokens::new(p, c));
            let mut trace = std::mem::take(&mut record.trace);
            trace.finish(&record);
            observers.observe(&record);
            batch.push(record);
        }
        Message::Crossings(org_id, crossings) => observers.audit(org_id, crossings).await,
        Message::Stop => return true,
    }
    false
}

async fn write(store: &Store, metrics: &Metrics, batch: &mut Vec<UsageRecord>) {
    if batch.is_empty() {
        return;
    }
    // A failed write is retried a few times (the database may be busy), then logged with the
    // records' ids, so that nothing disappears silently.
    for attempt in 1..=5u64 {
        match store.insert_usage(batch).await {
            Ok(()) => break,
            Err(e) if attempt < 5 => {
                metrics.usage_write_failed();
                tracing::warn!(error = %e, attempt, "writing usage records failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => {
                metrics.usage_write_failed();
                metrics.usage_dropped(batch.len());
                let ids: Vec<&str> = batch.iter().map(|r| r.request_id.as_str()).collect();
                tracing::error!(error = %e, ?ids, "usage records could not be stored");
            }
        }
    }
    batch.clear();
}

/// Token counts when a provider reports none: OpenAI's `o200k_base` encoding (bundled with the
/// binary), with OpenAI's per-message overhead. For other vendors' models it is an estimate. The
/// encoding (tens of MiB) is loaded on first use only, so a gateway whose providers report usage
/// never pays for it.
pub mod tokens {
    use serde_json::Value;

    fn encoding() -> &'static tiktoken_rs::CoreBPE {
        tiktoken_rs::o200k_base_singleton()
    }

    pub fn count_text(text: &str) -> u64 {
        encoding().encode_ordinary(text).len() as u64
    }

    /// Tokens of a Chat Completions `messages` array: 3 per message, its text (content parts,
    /// tool-call names and arguments included), 1 per name, and 3 to prime the reply.
    pub fn count_messages(messages: &Value) -> u64 {
        let Some(messages) = messages.as_array() else { return 0 };
        let mut total = 3;
        for message in messages {
            total += 3;
            let mut text = String::new();
            collect_text(message.get("content"), &mut text);
            if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    collect_text(call.pointer("/function/name"), &mut text);
                    collect_text(call.pointer("/function/arguments"), &mut text);
                }
            }
            if message.get("name").is_some() {
                total += 1;
            }
            total += count_text(&text);
        }
        total
    }

    /// Tokens of an embeddings `input`: a string, an array of strings, or token arrays.
    pub fn count_input(input: &Value) -> u64 {
        match input {
            Value::String(s) => count_text(s),
            Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    Value::Number(_) => 1,
                    other => count_input(other),
                })
                .sum(),
            _ => 0,
        }
    }

    fn collect_text(value: Option<&Value>, out: &mut String) {
        match value {
            Some(Value::String(s)) => {
                out.push_str(s);
                out.push('\n');
            }
            Some(Value::Array(parts)) => {
                for part in parts {
                    collect_text(part.get("text"), out);
                }
            }
            _ => {}
        }
    }

    #[cfg(test)]
    mod tests {
        use serde_json::json;

        use super::*;

        #[test]
        fn counts_match_openais_encoding() {
            // "Hello, world!" is 4 tokens in o200k_base.
            assert_eq!(count_text("Hello, world!"), 4);
            let messages = json!([
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": [{"type": "text", "text": "Hello, world!"}]}
            ]);
            assert_eq!(
                count_messages(&messages),
                3 + (3 + count_text("You are terse.\n")) + (3 + count_text("Hello, world!\n"))
            );
            assert_eq!(count_input(&json!(["Hello, world!", [1, 2, 3]])), 7);
        }
    }
}
