//! `locate`: from a bug report, a stack trace or a failing run's output to the files and symbols
//! it is about, each with its evidence — on a small shop written here and the traces Python
//! prints when it fails, and on the Java fixture and the trace the JVM prints.

use std::path::Path;
use std::process::Command;

use indexer::locate::{Evidence, Located, Signal};

use indexer::Mode;

use crate::support::{TestIndexer, fixture, local, query};

const CART: &str = r#""""The shopping cart: what is in it and what it costs."""


def total(items):
    """The cart's total price: each item's price times its quantity."""
    return sum(item["price"] * item["qty"] for item in items)


def add_item(items, item):
    items.append(item)
    return items
"#;

const CHECKOUT: &str = r#""""Paying for a cart."""
from shop.cart import total
from shop.emails import send_receipt


def checkout(items, card):
    """Charges the card for the cart and sends the receipt."""
    amount = total(items)
    card.charge(amount)
    send_receipt(card.owner, amount)
    return amount
"#;

const SHIPPING: &str = r#""""Shipping rates by parcel weight and destination country."""

RATES = {"domestic": 4.5, "international": 19.0}


def shipping_cost(weight_kg, country):
    """The parcel's rate: a base by destination, plus a surcharge per kilogram."""
    base = RATES["domestic"] if country == "FR" else RATES["international"]
    return base + 1.2 * max(weight_kg - 2, 0)
"#;

const EMAILS: &str = r#""""Messages to customers."""
import smtplib


def send_receipt(customer, amount):
    """Emails the customer a receipt for what they paid."""
    with smtplib.SMTP("localhost") as server:
        server.sendmail("shop@example.com", customer, f"You paid {amount}")
"#;

/// The shop, as a folder: `shop/` and an `app.py` that checks out a cart.
fn shop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("shop/__init__.py", "");
    write("shop/cart.py", CART);
    write("shop/checkout.py", CHECKOUT);
    write("shop/shipping.py", SHIPPING);
    write("shop/emails.py", EMAILS);
    write(
        "app.py",
        "from shop.checkout import checkout\n\n\nclass Card:\n    owner = 'ada@example.com'\n\n    def charge(self, amount):\n        pass\n\n\ncheckout([{\"price\": 3}], Card())\n",
    );
    dir
}

/// What Python prints when `app.py` fails.
fn traceback(dir: &Path) -> String {
    let output = Command::new("python3").arg("app.py").current_dir(dir).output().unwrap();
    assert!(!output.status.success(), "the cart has no quantity: the run fails");
    String::from_utf8(output.stderr).unwrap()
}

fn paths(located: &[Located]) -> Vec<&str> {
    located.iter().map(|l| l.path.as_str()).collect()
}

async fn indexed(shop: &Path, indexer: &TestIndexer) -> String {
    let status = indexer.index(local(shop), None).await;
    assert!(status.repo.error.is_none(), "{:?}", status.repo.error);
    status.repo.id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_traceback_puts_the_failing_function_first_and_its_callers_after() {
    let shop = shop();
    let indexer = TestIndexer::new().await;
    let repo = indexed(shop.path(), &indexer).await;
    let trace = traceback(shop.path());
    let report = format!("Checkout crashes for a cart sent by the mobile app:\n\n{trace}");

    let located = indexer.indexer.locate(&repo, &report, 5).await.unwrap();

    assert_eq!(paths(&located)[..2], ["shop/cart.py", "shop/checkout.py"], "{located:#?}");
    let cart = &located[0];
    assert_eq!(cart.symbols[0].name, "total");
    assert!(
        cart.symbols[0].evidence.iter().any(
            |e| matches!(e, Evidence::Frame { function: Some(f), line: Some(6) } if f == "total")
        ),
        "the frame's function and line are the evidence: {:#?}",
        cart.symbols[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_in_words_finds_the_file_whose_names_and_docstrings_hold_them() {
    let shop = shop();
    let indexer = TestIndexer::new().await;
    let repo = indexed(shop.path(), &indexer).await;
    let report = "Customers abroad are charged the domestic parcel rate: heavy packages to Canada \
                  cost the same as to France. The surcharge per kilogram seems to be ignored.";

    let located = indexer.indexer.locate(&repo, report, 3).await.unwrap();

    assert_eq!(located[0].path, "shop/shipping.py", "{located:#?}");
    let Some(Evidence::Terms(words)) =
        located[0].evidence.iter().find(|e| matches!(e, Evidence::Terms(_)))
    else {
        panic!("the words matched are the evidence: {:#?}", located[0]);
    };
    for word in ["domestic", "parcel", "rate", "surcharge", "kilogram"] {
        assert!(words.iter().any(|w| w == word), "{word} in {words:?}");
    }
    assert!(!words.iter().any(|w| w == "Canada"), "a word the file lacks is not evidence");
    assert_eq!(located[0].symbols[0].name, "shipping_cost");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callers_of_what_a_report_names_are_reached_through_the_graph() {
    let shop = shop();
    let indexer = TestIndexer::new().await;
    let repo = indexed(shop.path(), &indexer).await;

    let located =
        indexer.indexer.locate(&repo, "`send_receipt` is never retried", 5).await.unwrap();

    assert_eq!(located[0].path, "shop/emails.py", "{located:#?}");
    let checkout = located.iter().find(|l| l.path == "shop/checkout.py").expect("its caller");
    let symbol = &checkout.symbols[0];
    assert_eq!(symbol.name, "checkout");
    assert!(
        symbol.evidence.iter().any(
            |e| matches!(e, Evidence::Neighbour { of, calls: true } if of.ends_with("send_receipt"))
        ),
        "{symbol:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_removed_from_the_repository_is_no_longer_located() {
    let shop = shop();
    let indexer = TestIndexer::new().await;
    let repo = indexed(shop.path(), &indexer).await;
    let report = "the parcel rate surcharge per kilogram is wrong";
    assert_eq!(indexer.indexer.locate(&repo, report, 1).await.unwrap()[0].path, "shop/shipping.py");

    std::fs::remove_file(shop.path().join("shop/shipping.py")).unwrap();
    indexed(shop.path(), &indexer).await;

    let located = indexer.indexer.locate(&repo, report, 10).await.unwrap();
    assert!(!paths(&located).contains(&"shop/shipping.py"), "{located:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_meaning_of_a_long_report_is_read_past_its_first_window() {
    let shop = shop();
    let indexer = TestIndexer::with_embedder().await;
    let repo = indexed(shop.path(), &indexer).await;
    // A long log first: the model reads 256 tokens of a text, and these lines fill them.
    let mut report = String::from("Steps taken before the problem, from the worker's log:\n");
    for n in 0..40 {
        report += &format!("2026-11-30T10:{n:02}:00Z worker-3 heartbeat ok, queue depth {n}\n");
    }
    report += "\nWhat goes wrong: the confirmation email is never delivered; the SMTP server \
               shows no message to the customer.\n";

    let signals = indexer.indexer.locate_signals(&repo, &report).await.unwrap();

    let lists = &signals.rankings.lists;
    let meaning = &lists.iter().find(|(s, _)| *s == Signal::Meaning).unwrap().1;
    let first = &signals.graph.files[meaning.files[0].0].path;
    assert_eq!(first, "shop/emails.py", "{:?}", meaning.files);
}

/// The title and the code name the shipping rate; the story around them is told in the words of
/// the receipts the customers were sent.
const PASTED_REPORT: &str = "`shipping_cost` ignores the kilogram surcharge abroad\n\n\
    Customers wrote in after they paid: the receipt each customer got by email shows what \
    they paid, and our messages to customers say the same. Every receipt we emailed looks \
    right to the customer, yet what they paid is too little.";

#[tokio::test(flavor = "multi_thread")]
async fn search_code_reads_a_pasted_report_by_its_title_more_than_its_story() {
    let shop = shop();
    let indexer = TestIndexer::new().await;
    indexed(shop.path(), &indexer).await;

    let hits = indexer.indexer.search(&query(PASTED_REPORT, Mode::Lexical)).await.unwrap();

    assert_eq!(hits[0].path, "shop/shipping.py", "{hits:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hybrid_search_of_a_pasted_report_leans_on_its_words() {
    let shop = shop();
    let indexer = TestIndexer::with_embedder().await;
    indexed(shop.path(), &indexer).await;

    let hits = indexer.indexer.search(&query(PASTED_REPORT, Mode::Hybrid)).await.unwrap();

    assert_eq!(hits[0].path, "shop/shipping.py", "{hits:#?}");
}

/// The java-maven fixture, with a tool that checks out an empty order, and what the JVM prints
/// when it runs.
fn failing_java_shop() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let copied = Command::new("cp").arg("-r").arg(fixture("java-maven")).arg(dir.path()).status();
    assert!(copied.unwrap().success());
    let root = dir.path().join("java-maven");
    std::fs::write(
        root.join("src/main/java/com/example/shop/EmptyCheckout.java"),
        "package com.example.shop;\n\nimport com.example.shop.pricing.Discount;\nimport com.example.shop.service.OrderService;\n\npublic class EmptyCheckout {\n    public static void main(String[] args) {\n        OrderService service = OrderService.withLedger();\n        service.charge(service.start(\"o-9\"), Discount.NONE);\n    }\n}\n",
    )
    .unwrap();
    let sources: Vec<_> = ignore::Walk::new(root.join("src/main"))
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "java"))
        .collect();
    let classes = dir.path().join("classes");
    let javac = Command::new("javac").arg("-d").arg(&classes).args(&sources).status();
    assert!(javac.expect("javac (setup installs openjdk-17-jdk-headless)").success());
    let run = Command::new("java")
        .arg("-cp")
        .arg(&classes)
        .arg("com.example.shop.EmptyCheckout")
        .output()
        .unwrap();
    assert!(!run.status.success(), "an empty order cannot be charged");
    (dir, String::from_utf8(run.stderr).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_java_stack_trace_finds_the_method_that_threw_under_its_source_root() {
    let (dir, trace) = failing_java_shop();
    let indexer = TestIndexer::new().await;
    let repo = indexed(&dir.path().join("java-maven"), &indexer).await;

    let located = indexer.indexer.locate(&repo, &trace, 5).await.unwrap();

    // The JVM names `OrderService.java` and its package, not the path under src/main/java.
    let first = &located[0];
    assert_eq!(first.path, "src/main/java/com/example/shop/service/OrderService.java", "{trace}");
    assert_eq!(first.symbols[0].name, "OrderService.charge");
    assert!(
        first.symbols[0].evidence.iter().any(|e| matches!(e,
            Evidence::Frame { function: Some(f), line: Some(32) } if f == "OrderService.charge")),
        "{:#?}",
        first.symbols[0]
    );
    assert!(paths(&located).contains(&"src/main/java/com/example/shop/EmptyCheckout.java"));
}
