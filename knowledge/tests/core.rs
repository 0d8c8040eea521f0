//! The knowledge core as every face uses it, in process: what one caller may reach, and how each
//! call is governed. No server and no client: the fast tier of what MCP and REST promise (their
//! real-client suites in `mcp-server/tests/it` are the slow tier).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indexer::{Indexer, IndexerConfig, JobState, Source};
use knowledge::caller::Pending;
use knowledge::{
    Account, Answer, Call, Caller, Direction, Face, Knowledge, KnowledgeError, Page, RateLimit,
    Screening, SearchRequest, SymbolName, SymbolQuery, govern, screen_json,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos").join(name)
}

/// A stand-in for the gateway's side of a caller: a rate limit that admits or refuses, a DLP
/// policy that redacts `TAX_RATE` (or blocks it), and a ledger of metered calls.
#[derive(Debug, Default)]
struct Ledger {
    refuse: bool,
    block: bool,
    metered: Mutex<Vec<(String, u16)>>,
}

impl Account for Ledger {
    fn admit(&self) -> Pending<'_, Result<Option<RateLimit>, KnowledgeError>> {
        let limit = RateLimit { limit: 10, remaining: 0, reset: 60, retry_after: 60 };
        let refused = self.refuse;
        Box::pin(async move {
            if refused {
                let message = "over the rate limit".to_owned();
                return Err(KnowledgeError::RateLimited { message, limit: Some(limit) });
            }
            Ok(Some(RateLimit { remaining: 9, ..limit }))
        })
    }

    fn screen(&self, value: &mut serde_json::Value) -> Screening {
        let mut screening = Screening::default();
        let mut found = 0;
        let mut walk = vec![value];
        while let Some(value) = walk.pop() {
            match value {
                serde_json::Value::String(text) if text.contains("TAX_RATE") => {
                    found += text.matches("TAX_RATE").count() as u32;
                    if !self.block {
                        *text = text.replace("TAX_RATE", "[REDACTED:TAX]");
                    }
                }
                serde_json::Value::Array(items) => walk.extend(items.iter_mut()),
                serde_json::Value::Object(fields) => walk.extend(fields.values_mut()),
                _ => {}
            }
        }
        if found > 0 {
            let action = if self.block { "block" } else { "redact" };
            screening.events.entry("tax".to_owned()).or_default().insert(action.to_owned(), found);
            if self.block {
                screening.blocked.push("tax".to_owned());
            }
        }
        screening
    }

    fn meter(&self, call: Call) {
        self.metered.lock().unwrap().push((call.name, call.status));
    }
}

/// An indexer over a fresh data dir with python-pkg owned by organization 7 and rust-crate by
/// organization 8 (structure and lexical search; no embedding model).
async fn two_organizations() -> (tempfile::TempDir, Knowledge, String, String) {
    let data = tempfile::tempdir().unwrap();
    let storage = storage::testing::open(data.path()).await;
    let indexer = Indexer::open(IndexerConfig::in_data_dir(data.path(), storage)).await.unwrap();
    let mut ids = Vec::new();
    for (name, owner) in [("python-pkg", 7), ("rust-crate", 8)] {
        let source = Source::parse(fixture(name).to_str().unwrap()).unwrap();
        let job = indexer.submit(source, None, Some(owner)).await.unwrap();
        let status = indexer::finished(job).await;
        assert_eq!(status.repo.status, JobState::Ready, "{:?}", status.repo.error);
        ids.push(status.repo.id);
    }
    let rust = ids.pop().unwrap();
    let python = ids.pop().unwrap();
    (data, Knowledge::new(indexer), python, rust)
}

fn member(org: i64, reads_only: bool) -> (Caller, Arc<Ledger>) {
    let ledger = Arc::new(Ledger::default());
    (Caller::member(Some(org), reads_only, Arc::clone(&ledger) as Arc<dyn Account>), ledger)
}

#[tokio::test]
async fn a_member_reaches_its_own_organization_s_repositories_and_no_other() {
    let (_data, knowledge, python, rust) = two_organizations().await;
    let (seven, _) = member(7, false);
    let scoped = knowledge.for_caller(&seven);

    let own: Vec<String> = scoped.repositories().await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(own, std::slice::from_ref(&python));
    assert_eq!(scoped.repository(None).await.unwrap().id, python, "its only repository");

    // Another organization's repository is unknown by every way of naming it.
    for key in [rust.as_str(), "rust-crate", fixture("rust-crate").to_str().unwrap()] {
        let err = scoped.repository(Some(key)).await.unwrap_err();
        assert!(matches!(err, KnowledgeError::UnknownRepo(_)), "{key}: {err}");
    }
    let err = scoped.symbols(Some(&rust), SymbolQuery::default(), Page::new(None, None, 50, 50));
    assert!(matches!(err.await.unwrap_err(), KnowledgeError::UnknownRepo(_)));
    let err = scoped.file(&rust, "src/lib.rs").await.unwrap_err();
    assert!(matches!(err, KnowledgeError::NotFound(_)), "{err}");
    let named =
        SearchRequest { text: "shorten".into(), repos: vec![rust.clone()], ..Default::default() };
    assert!(matches!(scoped.search(named).await.unwrap_err(), KnowledgeError::UnknownRepo(_)));

    // A search of "everything" is a search of its own.
    let request =
        SearchRequest { text: "fn def class item".into(), limit: Some(50), ..Default::default() };
    let hits = scoped.search(request).await.unwrap().results;
    assert!(!hits.is_empty());
    assert!(
        hits.iter().all(|h| h.repo_id == python),
        "{:?}",
        hits.iter().map(|h| &h.repo_id).collect::<Vec<_>>()
    );

    // The local user sees both.
    let local = Caller::local(Arc::new(Ledger::default()));
    assert_eq!(knowledge.for_caller(&local).repositories().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_viewer_reads_and_a_tenant_may_not_index_the_server_s_own_folders() {
    let (_data, knowledge, python, _) = two_organizations().await;
    let (viewer, _) = member(7, true);
    let scoped = knowledge.for_caller(&viewer);
    assert_eq!(scoped.repositories().await.unwrap().len(), 1, "a viewer reads");
    let folder = fixture("ts-app");
    for refused in [
        scoped.index(folder.to_str().unwrap(), None, false, None).await.map(|_| ()),
        scoped.remove(&python).await.map(|_| ()),
        scoped.prepare_question(None, "how is tax added?").await.map(|_| ()),
    ] {
        let err = refused.unwrap_err();
        assert!(matches!(err, KnowledgeError::Forbidden(_)), "{err}");
        assert!(err.to_string().contains("viewer reads only"), "{err}");
    }

    let (tenant, _) = member(7, false);
    let err =
        knowledge.for_caller(&tenant).index(folder.to_str().unwrap(), None, false, None).await;
    let err = err.unwrap_err();
    assert!(matches!(err, KnowledgeError::Forbidden(_)), "{err}");
    assert!(err.to_string().contains("send an https git URL"), "{err}");
    assert_eq!(
        knowledge.for_caller(&tenant).repositories().await.unwrap().len(),
        1,
        "nothing indexed"
    );
}

#[tokio::test]
async fn the_graph_answers_the_same_questions_for_every_face() {
    let (_data, knowledge, python, _) = two_organizations().await;
    let (seven, _) = member(7, false);
    let scoped = knowledge.for_caller(&seven);
    let page = Page::new(None, None, 50, 200);

    let name = SymbolName { name: "price_with_tax", path: None };
    let callers = scoped.calls(None, name.clone(), Direction::Callers, None, page).await.unwrap();
    let names: Vec<&str> = callers.results.iter().map(|c| c.symbol.qualified.as_str()).collect();
    assert!(names.contains(&"Inventory.total_value"), "{names:?}");
    let impact = scoped.impact(Some(&python), name, Some(2), 10).await.unwrap();
    assert!(impact.files.contains(&"stockroom/inventory.py".to_owned()), "{:?}", impact.files);

    // An ambiguous name asks for a path; with it, the symbol is found.
    let add = SymbolName { name: "add", path: None };
    let err = scoped.symbol(None, add).await.unwrap_err();
    assert!(
        matches!(err, KnowledgeError::Invalid(_)) && err.to_string().contains("pass `path`"),
        "{err}"
    );

    // Lines are bounded, and say where the rest begins.
    let file = scoped.read(None, "stockroom/inventory.py", Some(2), None).await.unwrap();
    assert_eq!((file.start_line, file.end_line), (2, file.total_lines));
    assert_eq!(file.next_line, None);
    let cut = scoped.read(None, "stockroom/inventory.py", Some(1), Some(3)).await.unwrap();
    assert_eq!((cut.lines.len(), cut.next_line), (3, None), "only what was asked for");
    let beyond = scoped.read(None, "stockroom/inventory.py", Some(10_000), None).await;
    assert!(matches!(beyond.unwrap_err(), KnowledgeError::Invalid(_)));

    // A limit above the maximum is clamped, and the page says where the next one begins.
    let all = SymbolQuery::default();
    let (_, first) =
        scoped.symbols(None, all.clone(), Page::new(None, Some(5), 50, 1000)).await.unwrap();
    assert_eq!((first.symbols.len(), first.next_offset), (5, Some(5)));
    let (_, clamped) =
        scoped.symbols(None, all, Page::new(None, Some(1_000_000), 50, 3)).await.unwrap();
    assert_eq!(clamped.symbols.len(), 3);
}

/// A face's answer in the tests: some text, screened as JSON.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Text {
    text: String,
    #[serde(skip)]
    notice: Option<String>,
}

impl Answer for Text {
    fn screen(&mut self, account: &dyn Account) -> Screening {
        screen_json(self, account).unwrap()
    }

    fn tell(&mut self, screening: &Screening) {
        self.notice = screening.notice();
    }

    fn failure(&self) -> Option<(u16, String)> {
        None
    }

    fn size(&self) -> u64 {
        self.text.len() as u64
    }
}

fn tax_rate() -> Result<Text, KnowledgeError> {
    Ok(Text { text: "TAX_RATE = 0.2".to_owned(), notice: None })
}

#[tokio::test]
async fn every_call_is_admitted_screened_and_metered_however_it_ends() {
    // Redacted: the answer holds the mask, the caller is told, the call is metered as a success.
    let (caller, ledger) = member(7, false);
    let governed =
        govern(&caller, Call::new(Face::Mcp, "read_file", ""), async { tax_rate() }).await;
    let answer = governed.answer.unwrap();
    assert_eq!(answer.text, "[REDACTED:TAX] = 0.2");
    assert!(answer.notice.unwrap().contains("tax × 1"));
    assert_eq!(governed.limit.map(|l| l.remaining), Some(9));
    assert_eq!(*ledger.metered.lock().unwrap(), [("read_file".to_owned(), 200)]);

    // Blocked: the answer never leaves; REST meters the 403 it answers.
    let ledger = Arc::new(Ledger { block: true, ..Ledger::default() });
    let caller = Caller::member(Some(7), false, Arc::clone(&ledger) as Arc<dyn Account>);
    let governed = govern(&caller, Call::new(Face::Rest, "GET /x", ""), async { tax_rate() }).await;
    let err = governed.answer.unwrap_err();
    assert!(matches!(err, KnowledgeError::DlpBlocked(_)), "{err}");
    assert!(err.to_string().contains("DLP policy blocks (tax)"), "{err}");
    assert_eq!(*ledger.metered.lock().unwrap(), [("GET /x".to_owned(), 403)]);

    // Refused: the call never runs, and is metered as refused.
    let ledger = Arc::new(Ledger { refuse: true, ..Ledger::default() });
    let caller = Caller::member(Some(7), false, Arc::clone(&ledger) as Arc<dyn Account>);
    let ran = std::sync::atomic::AtomicBool::new(false);
    let run = async {
        ran.store(true, std::sync::atomic::Ordering::SeqCst);
        tax_rate()
    };
    let governed = govern(&caller, Call::new(Face::Mcp, "search_code", ""), run).await;
    let err = governed.answer.unwrap_err();
    assert!(matches!(
        err,
        KnowledgeError::RateLimited { limit: Some(RateLimit { retry_after: 60, .. }), .. }
    ));
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "a refused call does not run");
    assert_eq!(*ledger.metered.lock().unwrap(), [("search_code".to_owned(), 429)]);

    // Failed: metered with the error's status (over MCP, a tool error is a 400).
    let (caller, ledger) = member(7, false);
    let missing = async { Err::<Text, _>(KnowledgeError::UnknownRepo("nope".into())) };
    let governed = govern(&caller, Call::new(Face::Rest, "GET /y", ""), missing).await;
    assert_eq!(governed.answer.unwrap_err().code().1, 404);
    let missing = async { Err::<Text, _>(KnowledgeError::UnknownRepo("nope".into())) };
    let _ = govern(&caller, Call::new(Face::Mcp, "get_symbol", ""), missing).await;
    assert_eq!(
        *ledger.metered.lock().unwrap(),
        [("GET /y".to_owned(), 404), ("get_symbol".to_owned(), 400)]
    );
}
