//! One repository, three languages: a Go service, the TypeScript client that calls it, and the
//! Bash script that builds and ships both (`fixtures/repos/polyglot`). What a user asks across
//! them — where is "create order" in each language, who calls it, what does the deploy run, where
//! does this panic come from — is answered from one index.

use indexer::{Mode, NameMatch, RepoGraph};

use crate::support::{GitRepo, TestIndexer, local, query, top};

async fn indexed() -> (GitRepo, TestIndexer, String) {
    let git = GitRepo::from_fixture("polyglot");
    let t = TestIndexer::new().await;
    let status = t.index(local(git.path()), None).await;
    assert!(status.repo.error.is_none(), "{:?}", status.repo.error);
    let id = status.repo.id;
    (git, t, id)
}

fn named(graph: &RepoGraph, name: &str) -> Vec<String> {
    let found = graph.find_symbols(name, NameMatch::Prefix, None, 10);
    found.into_iter().map(|s| graph.display(s)).collect()
}

fn callers(graph: &RepoGraph, qualified: &str) -> Vec<String> {
    let target = graph.find_symbols(qualified, NameMatch::Exact, None, 1)[0];
    graph.callers(target, 1).into_iter().map(|(s, _, _)| graph.display(s)).collect()
}

#[tokio::test]
async fn one_name_is_found_in_each_language_with_its_own_callers() {
    let (_git, t, id) = indexed().await;
    let graph = t.indexer.graph(&id).await.unwrap();

    let found = named(&graph, "createorder");
    assert_eq!(
        found,
        ["client/src/api.ts::createOrder", "service/orders/orders.go::Book.CreateOrder"]
    );
    // The TypeScript client's function is called by the storefront's quick buy; the Go service's
    // server wires the handler through its package, across folders.
    assert_eq!(callers(&graph, "createOrder"), ["client/src/index.ts::quickBuy"]);
    assert_eq!(callers(&graph, "validate"), ["service/orders/orders.go::Book.CreateOrder"]);
    assert_eq!(callers(&graph, "Handler"), ["service/cmd/server/main.go::main"]);
}

#[tokio::test]
async fn the_deploy_script_is_linked_to_the_helpers_it_sources() {
    let (_git, t, id) = indexed().await;
    let graph = t.indexer.graph(&id).await.unwrap();

    // The script's own top-level lines run the builds.
    let dump = graph.dump();
    assert!(dump.contains("deploy/deploy.sh -calls-> deploy/lib.sh::build_service (line 15)"));
    assert!(dump.contains("deploy/deploy.sh -calls-> deploy/lib.sh::build_client (line 16)"));
    let mut steps = callers(&graph, "step");
    steps.sort();
    assert_eq!(
        steps,
        ["deploy/deploy.sh::ship", "deploy/lib.sh::build_client", "deploy/lib.sh::build_service"]
    );
    let file = graph.file_index("deploy/deploy.sh").unwrap();
    assert_eq!(graph.imports_of(file), ["deploy/lib.sh"]);
}

#[tokio::test]
async fn a_search_can_keep_to_one_language() {
    let (_git, t, id) = indexed().await;
    let mut search = query("build the service", Mode::Lexical);
    search.repos = vec![id.clone()];
    let everywhere = top(&t.indexer.search(&search).await.unwrap());
    assert!(everywhere.iter().any(|h| h.starts_with("deploy/")), "{everywhere:?}");

    search.language = Some("go".into());
    let go = t.indexer.search(&search).await.unwrap();
    assert!(!go.is_empty());
    assert!(go.iter().all(|h| h.path.starts_with("service/") && h.path.ends_with(".go")), "{go:?}");
}

#[tokio::test]
async fn a_go_panic_is_located_in_the_service_not_the_client() {
    let (_git, t, id) = indexed().await;
    let trace = "panic: assignment to entry in nil map\n\ngoroutine 1 [running]:\nexample.com/polyglot/service/orders.(*Book).CreateOrder(0xc000010018, {{0x6b8f40, 0x3}, {0x0, 0x0, 0x0}})\n\t/home/ci/polyglot/service/orders/orders.go:43 +0x11d\nexample.com/polyglot/service/orders.Handler.func1({0x7a1e08, 0xc0000a2000}, 0xc0000b0000)\n\t/home/ci/polyglot/service/orders/http.go:16 +0xa5\n";

    let located = t.indexer.locate(&id, trace, 3).await.unwrap();

    assert_eq!(located[0].path, "service/orders/orders.go", "{located:#?}");
    assert_eq!(located[0].symbols[0].name, "Book.CreateOrder");
    assert_eq!(located[1].path, "service/orders/http.go");
}
