//! Relaying a provider's server-sent events to the client as they arrive. Each complete event is
//! forwarded at once (a partial one waits only for its own end); the relay watches the events
//! for usage, the first token and errors, and makes the usage record when the stream ends —
//! finished, broken, or dropped because the client went away, which also drops (and so cancels)
//! the upstream request.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::dialect::StreamTranslator;
use crate::directory::{Breaker, KeyLease};
use crate::error::ApiError;
use crate::pricing::{Prices, Tokens};
use crate::proxy::{RequestContext, usage_of};
use crate::screen::{Restoring, RestoringMessages, RestoringResponses};
use crate::usage::UsageSink;

/// The API the client streams in: OpenAI's chat completion chunks (`data:` lines, `[DONE]`), or
/// Anthropic's Messages events (`event:` and `data:` lines, `message_stop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Chat,
    Messages,
    /// OpenAI's Responses events (`event:` and `data:` lines, `response.completed`).
    Responses,
}

/// Puts DLP-masked values back into the events of a stream, in its client's API.
#[derive(Debug)]
pub(crate) enum Restore {
    Chat(Restoring),
    Messages(RestoringMessages),
    Responses(RestoringResponses),
}

/// What the relay needs to know about its request.
#[derive(Debug)]
pub(crate) struct StreamContext {
    pub ctx: RequestContext,
    pub wire: Wire,
    pub provider_id: i64,
    pub provider: String,
    pub breaker: Arc<Breaker>,
    #[expect(dead_code, reason = "held for its Drop: the key's slot stays taken until the end")]
    pub lease: KeyLease,
    pub attempts: u32,
    /// Whether the client asked for `stream_options.include_usage`; the gateway always does.
    pub client_wants_usage: bool,
    /// The request's messages, to count prompt tokens if the provider reports none.
    pub prompt: Value,
    pub deadline: tokio::time::Instant,
    pub usage: UsageSink,
    pub prices: Prices,
    /// Puts DLP-masked values back into the events, when the request had any.
    pub restoring: Option<Restore>,
}

/// How long a client may stop reading a stream before the gateway gives up on it.
const CLIENT_STALL: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) struct Relay {
    upstream: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    tap: Tap,
}

/// Watches the events going by; its `Drop` makes the usage record.
struct Tap {
    context: StreamContext,
    translator: Option<Box<dyn StreamTranslator>>,
    pending: Vec<u8>,
    first_token: Option<Instant>,
    usage: Option<Tokens>,
    /// The streamed text and tool-call arguments, to count if no usage comes.
    completion: String,
    done: bool,
    error: Option<String>,
}

impl Relay {
    /// Relays `response`; `translator` turns another API's events into OpenAI chunks.
    pub fn new(
        response: reqwest::Response,
        translator: Option<Box<dyn StreamTranslator>>,
        context: StreamContext,
    ) -> Relay {
        Relay {
            upstream: response.bytes_stream().boxed(),
            tap: Tap {
                context,
                translator,
                pending: Vec::new(),
                first_token: None,
                usage: None,
                completion: String::new(),
                done: false,
                error: None,
            },
        }
    }

    /// The response body. A task relays the provider's stream into a small channel that the
    /// body drains: a client that leaves drops the channel, and one that stops reading for
    /// [`CLIENT_STALL`] is let go, and either way the provider's request is cancelled and its key
    /// slot freed — neither can hold them until the deadline.
    pub fn into_body(self) -> axum::body::Body {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        tokio::spawn(async move {
            let stream = self.into_stream();
            futures::pin_mut!(stream);
            loop {
                let item = tokio::select! {
                    // The client left while the provider was quiet.
                    () = tx.closed() => break,
                    item = stream.next() => item,
                };
                let Some(item) = item else { break };
                match tokio::time::timeout(CLIENT_STALL, tx.send(item)).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
            }
        });
        let body =
            futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
            );
        axum::body::Body::from_stream(body)
    }

    fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures::stream::unfold(Some(self), |relay| async move {
            let mut relay = relay?;
            loop {
                let next =
                    tokio::time::timeout_at(relay.tap.context.deadline, relay.upstream.next());
                match next.await {
                    Ok(Some(Ok(chunk))) => {
                        let out = relay.tap.feed(&chunk);
                        if !out.is_empty() {
                            return Some((out, Some(relay)));
                        }
                    }
                    Ok(None) => {
                        // A last event without its blank line still counts.
                        let mut out = relay.tap.feed(b"\n\n");
                        out.extend(relay.tap.finish());
                        if !relay.tap.done && relay.tap.error.is_none() {
                            out.extend_from_slice(
                                &relay
                                    .tap
                                    .fail("the provider ended the stream before it was complete"),
                            );
                        }
                        return (!out.is_empty()).then_some((out, None));
                    }
                    Ok(Some(Err(e))) => {
                        let out = relay.tap.fail(&format!("the provider's stream broke off: {e}"));
                        return Some((out, None));
                    }
                    Err(_) => {
                        let out = relay.tap.fail("the stream did not finish within the deadline");
                        return Some((out, None));
                    }
                }
            }
        })
        .map(|bytes: Vec<u8>| Ok(Bytes::from(bytes)))
    }
}

impl Tap {
    /// Takes a chunk and returns the complete events to forward.
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some((end, next)) = event_end(&pending[start..]) {
            let event = &pending[start..start + end];
            let data = event_data(event);
            match (self.translator.as_mut(), data) {
                // Masked values to put back: the event is rewritten on its way out.
                (None, Some(data)) if self.context.restoring.is_some() => {
                    self.emit(vec![data], &mut out);
                }
                (None, Some(data)) => {
                    if self.keep(&data) {
                        out.extend_from_slice(&pending[start..start + next]);
                    }
                }
                (None, None) => out.extend_from_slice(&pending[start..start + next]),
                (Some(translator), Some(data)) => {
                    let payloads = match serde_json::from_str::<Value>(&data) {
                        Ok(value) => translator.event(&value),
                        Err(_) => Vec::new(),
                    };
                    self.emit(payloads, &mut out);
                }
                (Some(_), None) => {}
            }
            start += next;
        }
        pending.drain(..start);
        self.pending = pending;
        out
    }

    /// What a translated stream still owes the client once the provider's stream ended.
    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(translator) = &mut self.translator {
            let payloads = translator.finish();
            self.emit(payloads, &mut out);
        }
        out
    }

    /// Forwards payloads (translated, or to be restored) as events of the client's API.
    fn emit(&mut self, payloads: Vec<String>, out: &mut Vec<u8>) {
        for payload in payloads {
            for payload in self.restore(&payload).unwrap_or_else(|| vec![payload]) {
                if self.keep(&payload) {
                    write_event(self.context.wire, &payload, out);
                }
            }
        }
    }

    /// The event with DLP-masked values put back (an Anthropic one may become two), when there
    /// are any to put back.
    fn restore(&mut self, data: &str) -> Option<Vec<String>> {
        let restoring = self.context.restoring.as_mut()?;
        let mut event: Value = serde_json::from_str(data).ok()?;
        match restoring {
            Restore::Chat(restoring) => {
                event.get("choices")?;
                restoring.chunk(&mut event);
                Some(vec![event.to_string()])
            }
            Restore::Messages(restoring) => {
                Some(restoring.event(event).into_iter().map(|e| e.to_string()).collect())
            }
            Restore::Responses(restoring) => {
                Some(restoring.event(event).into_iter().map(|e| e.to_string()).collect())
            }
        }
    }

    /// Looks at one event's data; false drops it (the usage chunk the client did not ask for).
    fn keep(&mut self, data: &str) -> bool {
        match self.context.wire {
            Wire::Chat => self.keep_chunk(data),
            Wire::Messages => {
                self.observe_message_event(data);
                true
            }
            Wire::Responses => {
                self.observe_response_event(data);
                true
            }
        }
    }

    /// Takes a Responses event's text, end, usage or error.
    fn observe_response_event(&mut self, data: &str) {
        let Ok(event) = serde_json::from_str::<Value>(data) else { return };
        let before = self.completion.len();
        match event["type"].as_str() {
            Some("response.output_text.delta" | "response.function_call_arguments.delta") => {
                self.completion.push_str(event["delta"].as_str().unwrap_or_default());
            }
            Some("response.completed" | "response.incomplete") => {
                self.usage = crate::dialect::responses::tokens(&event["response"]["usage"]);
                self.done = true;
            }
            Some("response.failed") => {
                let message = event.pointer("/response/error/message").and_then(Value::as_str);
                self.error = Some(message.unwrap_or("the response failed").to_owned());
            }
            Some("error") => {
                let message = event["message"].as_str();
                self.error = Some(message.unwrap_or("stream error").to_owned());
            }
            _ => {}
        }
        if self.first_token.is_none() && self.completion.len() > before {
            self.first_token = Some(Instant::now());
        }
    }

    /// Takes an Anthropic Messages event's usage, text, end or error.
    fn observe_message_event(&mut self, data: &str) {
        let Ok(event) = serde_json::from_str::<Value>(data) else { return };
        let before = self.completion.len();
        match event["type"].as_str() {
            Some("message_start") => {
                self.usage = Some(crate::dialect::anthropic::tokens(&event["message"]["usage"]));
            }
            Some("message_delta") => {
                let usage = self.usage.get_or_insert_with(Tokens::default);
                crate::dialect::anthropic::update(usage, &event["usage"]);
            }
            Some("content_block_start") => {
                if let Some(name) = event.pointer("/content_block/name").and_then(Value::as_str) {
                    self.completion.push_str(name);
                }
            }
            Some("content_block_delta") => {
                for field in ["text", "thinking", "partial_json"] {
                    if let Some(text) = event["delta"].get(field).and_then(Value::as_str) {
                        self.completion.push_str(text);
                    }
                }
            }
            Some("message_stop") => self.done = true,
            Some("error") => {
                let message = event.pointer("/error/message").and_then(Value::as_str);
                self.error = Some(message.unwrap_or("stream error").to_owned());
            }
            _ => {}
        }
        if self.first_token.is_none() && self.completion.len() > before {
            self.first_token = Some(Instant::now());
        }
    }

    /// Looks at one OpenAI chunk; false drops it (the usage chunk the client did not ask for).
    fn keep_chunk(&mut self, data: &str) -> bool {
        if data.trim() == "[DONE]" {
            self.done = true;
            return true;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else { return true };
        if let Some(error) = chunk.get("error") {
            self.error = Some(
                error.get("message").and_then(Value::as_str).unwrap_or("stream error").to_owned(),
            );
            return true;
        }
        if let Some(usage) = usage_of(&chunk) {
            self.usage = Some(usage);
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        let before = self.completion.len();
        for choice in choices.into_iter().flatten() {
            let delta = &choice["delta"];
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                self.completion.push_str(text);
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                for field in ["/function/name", "/function/arguments"] {
                    if let Some(text) = call.pointer(field).and_then(Value::as_str) {
                        self.completion.push_str(text);
                    }
                }
            }
        }
        // The first token is the first text or tool call, not the opening role chunk.
        if self.first_token.is_none() && self.completion.len() > before {
            self.first_token = Some(Instant::now());
        }
        let usage_only = choices.is_some_and(Vec::is_empty) && chunk.get("usage").is_some();
        !usage_only || self.context.client_wants_usage
    }

    /// Ends the stream with an error event the client's SDK raises.
    fn fail(&mut self, message: &str) -> Vec<u8> {
        self.error = Some(message.to_owned());
        self.context.breaker.record_failure();
        let error = ApiError::bad_gateway(message);
        let body = match self.context.wire {
            Wire::Chat => error.body(),
            Wire::Messages => error.anthropic_body(),
            Wire::Responses => serde_json::json!({
                "type": "error", "code": error.code.as_str(), "message": error.message, "param": null,
            }),
        };
        let mut out = Vec::new();
        write_event(self.context.wire, &body.to_string(), &mut out);
        out
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        let c = &self.context;
        let (status, error) = match (&self.error, self.done) {
            (Some(e), _) => (502, Some(e.clone())),
            (None, true) => (200, None),
            (None, false) => (499, Some("the client closed the stream".to_owned())),
        };
        let mut record = c.ctx.record(status);
        record.error = error;
        record.streamed = true;
        record.provider_id = Some(c.provider_id);
        record.provider = Some(c.provider.clone());
        record.attempts = c.attempts;
        record.ttft_ms =
            self.first_token.map(|t| t.duration_since(c.ctx.started).as_millis() as u64);
        self.context.usage.settle(
            record,
            // A translated stream whose provider reported nothing says zeros: counted instead.
            self.usage.filter(|tokens| *tokens != Tokens::default()),
            std::mem::take(&mut self.context.prompt),
            std::mem::take(&mut self.completion),
            &self.context.prices,
        );
    }
}

/// One event as the client's API writes it: Anthropic's and the Responses API's name each event's
/// type on an `event:` line too.
fn write_event(wire: Wire, payload: &str, out: &mut Vec<u8>) {
    if wire != Wire::Chat
        && let Some(kind) = serde_json::from_str::<Value>(payload)
            .ok()
            .and_then(|e| e.get("type").and_then(Value::as_str).map(str::to_owned))
    {
        out.extend_from_slice(format!("event: {kind}\n").as_bytes());
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// Where the first event in `buf` ends: (end of its content, start of the next event).
pub(crate) fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = |within: &[u8]| memchr::memmem::find(within, b"\r\n\r\n").map(|i| (i, i + 4));
    match memchr::memmem::find(buf, b"\n\n") {
        // Only a CRLF blank line that starts before the LF one can come first: look there only.
        Some(lf) => match crlf(&buf[..(lf + 3).min(buf.len())]) {
            Some(c) if c.0 < lf => Some(c),
            _ => Some((lf, lf + 2)),
        },
        None => crlf(buf),
    }
}

/// The joined `data:` lines of an event.
pub(crate) fn event_data(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data: Option<String> = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_at_a_blank_line_in_either_line_ending() {
        assert_eq!(event_end(b"data: 1\n\ndata: 2"), Some((7, 9)));
        assert_eq!(event_end(b"data: 1\r\n\r\n"), Some((7, 11)));
        assert_eq!(event_end(b"data: 1\n"), None);
        assert_eq!(
            event_data(b"event: x\ndata: {\"a\":\ndata: 1}").as_deref(),
            Some("{\"a\":\n1}")
        );
    }
}
