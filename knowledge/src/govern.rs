//! The one path every call takes, whatever face it came through: admitted under the caller's
//! rate limit, run, its answer screened by the caller's DLP policy, then metered.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::caller::{Account, Call, Caller, RateLimit, Screening};
use crate::error::KnowledgeError;

/// An answer as a face gives it: screened and measured by [`govern`].
pub trait Answer: Sized {
    /// Applies `account`'s DLP policy to everything the caller is given; what it found.
    fn screen(&mut self, account: &dyn Account) -> Screening;
    /// Tells the caller, where it reads the answer, what was redacted.
    fn tell(&mut self, screening: &Screening);
    /// The answer's failure as it is metered (a tool error, an error status), if it is one.
    fn failure(&self) -> Option<(u16, String)>;
    /// Bytes the caller is given.
    fn size(&self) -> u64;
}

/// A governed call's answer, and the caller's rate limit after it.
#[derive(Debug)]
pub struct Governed<A> {
    pub answer: Result<A, KnowledgeError>,
    pub limit: Option<RateLimit>,
}

/// Runs `run` for `caller` as `call`: admitted (a refusal is the answer), run, screened (an
/// answer holding a blocked type becomes [`KnowledgeError::DlpBlocked`]; redactions are told),
/// and metered however it ended.
pub async fn govern<A: Answer>(
    caller: &Caller,
    mut call: Call,
    run: impl Future<Output = Result<A, KnowledgeError>>,
) -> Governed<A> {
    let account = caller.account();
    let limit = match account.admit().await {
        Ok(limit) => limit,
        Err(error) => {
            call.status = error.metered_status(call.face);
            call.error = Some(error.to_string());
            crate::metrics::call(&call);
            account.meter(call);
            return Governed { answer: Err(error), limit: None };
        }
    };
    // A span per call (`execute_tool` in the GenAI semantic conventions), over the run.
    let span = tracing::info_span!(
        "tool call",
        otel.name = %format!("execute_tool {}", call.name),
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = call.name.as_str(),
        agentwatch.face = call.face.as_str(),
        request_id = call.request_id.as_str(),
        error.type = tracing::field::Empty,
    );
    let answer = tracing::Instrument::instrument(run, span.clone()).await.and_then(|mut answer| {
        let screening = answer.screen(account);
        if !screening.blocked.is_empty() {
            let blocked = KnowledgeError::blocked(&screening.blocked);
            call.screening = Some(screening);
            return Err(blocked);
        }
        answer.tell(&screening);
        call.screening = Some(screening);
        Ok(answer)
    });
    match &answer {
        Ok(answer) => {
            if let Some((status, message)) = answer.failure() {
                call.status = status;
                call.error = Some(message);
            }
            call.result_bytes = answer.size();
        }
        Err(error) => {
            call.status = error.metered_status(call.face);
            call.error = Some(error.to_string());
        }
    }
    if call.status >= 400 {
        span.record("error.type", call.status);
    }
    crate::metrics::call(&call);
    account.meter(call);
    Governed { answer, limit }
}

/// Screens any value that serializes to JSON and back: every string in it.
pub fn screen_json<T: Serialize + DeserializeOwned>(
    value: &mut T,
    account: &dyn Account,
) -> Result<Screening, KnowledgeError> {
    let unscreenable = |e: serde_json::Error| {
        KnowledgeError::Internal(format!("the result could not be screened: {e}"))
    };
    let mut json = serde_json::to_value(&*value).map_err(unscreenable)?;
    let screening = account.screen(&mut json);
    if screening.count() > 0 {
        *value = serde_json::from_value(json).map_err(unscreenable)?;
    }
    Ok(screening)
}
