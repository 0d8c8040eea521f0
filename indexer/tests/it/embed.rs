//! The offline embedding model, as fetched by `scripts/setup.sh`, gives vectors that rank code by
//! meaning.

use indexer::embed::{BATCH, DIMENSIONS, EmbedderConfig, LocalModel};

use crate::support::assets;

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn vectors_rank_code_by_meaning() {
    let embedder = LocalModel::load(&EmbedderConfig { threads: Some(1), ..assets() })
        .unwrap_or_else(|e| panic!("{e}"));
    let texts = [
        "retry a failed upload with exponential backoff",
        "def upload_with_retry(path, attempts=3):\n    for i in range(attempts):\n        try:\n            return put(path)\n        except IOError:\n            time.sleep(2 ** i)",
        "fn parse_color(hex: &str) -> Option<Rgb> { u32::from_str_radix(hex, 16).ok().map(Rgb::from) }",
        "SELECT name FROM users WHERE id = ?",
    ];
    let vectors = embedder.embed(&texts).unwrap();
    assert_eq!(vectors.len(), 4);
    for v in &vectors {
        assert_eq!(v.len(), DIMENSIONS);
        assert!((cosine(v, v) - 1.0).abs() < 1e-4, "unit length");
    }
    let to_retry = cosine(&vectors[0], &vectors[1]);
    assert!(to_retry > cosine(&vectors[0], &vectors[2]) + 0.1, "{to_retry}");
    assert!(to_retry > cosine(&vectors[0], &vectors[3]) + 0.1, "{to_retry}");

    // Order in, order out, whatever the batching by length did.
    let single = embedder.embed(&[texts[2]]).unwrap();
    assert!(cosine(&single[0], &vectors[2]) > 0.9999);
}

#[test]
fn each_text_gets_its_own_vector_however_the_batches_are_cut() {
    let embedder = LocalModel::load(&EmbedderConfig { threads: Some(1), ..assets() })
        .unwrap_or_else(|e| panic!("{e}"));
    // Several batches' worth, long and short mixed, so batching by token count reorders them.
    let words = ["retry", "the", "upload", "parse_color", "SELECT", "user_id", "backoff"];
    let texts: Vec<String> = (0..BATCH * 3 + 1)
        .map(|i| (0..(i * 7) % 40 + 1).map(|j| words[(i + j) % words.len()]).collect::<Vec<_>>())
        .map(|text| text.join(" "))
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let together = embedder.embed(&texts).unwrap();
    assert_eq!(together.len(), texts.len());
    for (text, vector) in texts.iter().zip(&together) {
        let alone = embedder.embed(&[text]).unwrap();
        assert!(cosine(&alone[0], vector) > 0.9999, "{text}");
    }
}

#[test]
fn a_missing_runtime_names_the_setup_command() {
    let config =
        EmbedderConfig { onnxruntime: "/nonexistent/libonnxruntime.so".into(), ..assets() };
    let err = LocalModel::load(&config).unwrap_err().to_string();
    assert_eq!(
        err,
        "ONNX Runtime not found at /nonexistent/libonnxruntime.so: run scripts/setup.sh, or set AGENTWATCH_ONNXRUNTIME"
    );
}

#[test]
fn a_query_is_embedded_like_a_document() {
    let embedder = LocalModel::load(&EmbedderConfig { threads: Some(1), ..assets() })
        .unwrap_or_else(|e| panic!("{e}"));
    let text = "where do we retry failed uploads?";
    let as_query = embedder.embed_query(text).unwrap();
    let as_document = embedder.embed(&[text]).unwrap();
    assert_eq!(as_query.len(), DIMENSIONS);
    assert!(cosine(&as_query, &as_document[0]) > 0.9999);
}
