//! Search benchmark on real code, with the offline model fetched by `scripts/setup.sh`. It runs in
//! phases over one data directory, so the long fill can run apart from the timed phases:
//!
//!     bench_search throughput <checkout>
//!     bench_search shapes <checkout>
//!     bench_search index <data dir> <checkout> <file to touch>
//!     bench_search fill <data dir> <cosqa dir> <chunks wanted> <folders>...
//!     bench_search query <data dir> <cosqa dir>
//!     bench_search stages <data dir> <cosqa dir>
//!
//! - `throughput`: 512 chunks of the checkout through `Embedder::embed`, against a bare ONNX
//!   Runtime session on the same model, tokenizer, batches and threads (best of 3 each).
//! - `shapes`: how long the checkout's chunks are in tokens, how much of each batch is padding
//!   when batches are cut by bytes, by tokens or to a token budget, and the bare runtime's
//!   chunks/s for each way (a sample of 768 chunks from across the checkout, best of 2).
//! - `index`: a full index of the checkout with embeddings into a new data directory (parsing and
//!   embedding timed apart), then the re-index after appending a function to one file (restored
//!   afterwards).
//! - `fill`: indexes the CoSQA corpus, then the folders one by one until the table holds the
//!   chunks wanted, so the query phase sees ≥ 100k chunks and the vector index.
//! - `query`: latency p50/p95 per mode over the 500 CoSQA queries against the whole table (the
//!   semantic and hybrid times include embedding the query), CoSQA's MRR@10 per mode at that
//!   scale, and the index's size on disk against the source's.
//! - `stages`: where a query's time goes — embedding the query, the full-text search, the vector
//!   search and the whole `Indexer::search` (with the `stale` check) — p50 over the same queries.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{assets, dir_size, open, peak_rss_kib, timed_job};
use indexer::search::chunk_rows;
use indexer::{
    Embedder, EmbedderConfig, IndexOptions, Indexer, LocalModel, Mode, SearchQuery, Source,
    index_directory,
};
use ort::session::Session;
use ort::value::Tensor;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

const SAMPLE: usize = 512;
const BATCH: usize = indexer::embed::BATCH;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let usage = "usage: bench_search throughput <checkout> | shapes <checkout> | index <data> <checkout> <file to touch> \
                 | fill <data> <cosqa dir> <chunks wanted> <folders>... | query <data> <cosqa dir> \
                 | stages <data> <cosqa dir>";
    let assets = assets();
    let model = Arc::new(LocalModel::load(&assets).unwrap_or_else(|e| panic!("{e}")));
    let embedder = Arc::new(Embedder::Local(Arc::clone(&model)));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match args.as_slice() {
        ["throughput", repo] => throughput(Path::new(repo), &model, &assets),
        ["shapes", repo] => shapes(Path::new(repo), &assets),
        ["index", data, repo, touch] => {
            runtime.block_on(index(Path::new(data), Path::new(repo), touch, embedder));
        }
        ["fill", data, cosqa, wanted, folders @ ..] => runtime.block_on(fill(
            Path::new(data),
            Path::new(cosqa),
            wanted.parse().expect("<chunks wanted> is a number"),
            folders,
            embedder,
        )),
        ["query", data, cosqa] => {
            runtime.block_on(query(Path::new(data), Path::new(cosqa), embedder));
        }
        ["stages", data, cosqa] => {
            runtime.block_on(stages(Path::new(data), Path::new(cosqa), model));
        }
        _ => panic!("{usage}"),
    }
    println!("peak RSS            {} MiB", peak_rss_kib() / 1024);
}

/// The texts of the checkout's chunks, file by file until there are at least `wanted`, and the
/// lines of source indexed.
fn chunk_texts(repo: &Path, wanted: usize) -> (Vec<String>, u64) {
    let indexed = index_directory(repo, &IndexOptions::default()).expect("index");
    let mut texts = Vec::new();
    for file in &indexed.graph.files {
        let Ok(source) = std::fs::read_to_string(repo.join(&file.path)) else { continue };
        texts.extend(chunk_rows(&file.path, &source, &file.facts).into_iter().map(|r| r.text));
        if texts.len() >= wanted {
            break;
        }
    }
    (texts, indexed.lines)
}

/// The least cosine between two lists of unit vectors, pair by pair: 1.00000 is the same vectors.
fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>())
        .fold(f32::MAX, f32::min)
}

/// Our embedding path against the bare runtime on the same inputs.
fn throughput(repo: &Path, embedder: &LocalModel, assets: &EmbedderConfig) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (mut texts, _) = chunk_texts(repo, SAMPLE);
    texts.truncate(SAMPLE);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();

    let mut bare = Bare::new(assets, threads);
    let (mut ours_best, mut bare_best) = (Duration::MAX, Duration::MAX);
    let (mut ours_vectors, mut bare_vectors) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let started = Instant::now();
        bare_vectors = bare.embed(&texts);
        bare_best = bare_best.min(started.elapsed());
        let started = Instant::now();
        ours_vectors = embedder.embed(&texts).expect("embed");
        ours_best = ours_best.min(started.elapsed());
    }
    let agreement = min_cosine(&ours_vectors, &bare_vectors);
    let rate = |d: Duration| texts.len() as f64 / d.as_secs_f64();
    println!("embedding sample    {} chunks, batches of {BATCH}, {threads} threads", texts.len());
    println!("bare ONNX Runtime   {:.1} chunks/s", rate(bare_best));
    println!(
        "Embedder::embed     {:.1} chunks/s ({:.1}% of bare)",
        rate(ours_best),
        100.0 * rate(ours_best) / rate(bare_best)
    );
    println!("same vectors        min cosine {agreement:.5}");
}

/// Indices sorted by `key`, cut into batches of `size`.
fn sorted_batches(key: &[usize], size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..key.len()).collect();
    order.sort_by_key(|&i| key[i]);
    order.chunks(size).map(<[usize]>::to_vec).collect()
}

/// Indices sorted by token count, each batch as large as fits `budget` padded tokens.
fn budget_batches(tokens: &[usize], budget: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..tokens.len()).collect();
    order.sort_by_key(|&i| tokens[i]);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted ascending, so the newest text is the longest of the batch.
        if !current.is_empty() && (current.len() + 1) * tokens[i] > budget {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    batches.extend((!current.is_empty()).then_some(current));
    batches
}

/// Padded tokens the model runs over for `batches`, per real token.
fn padding(tokens: &[usize], batches: &[Vec<usize>]) -> f64 {
    let real: usize = tokens.iter().sum();
    let padded: usize =
        batches.iter().map(|b| b.len() * b.iter().map(|&i| tokens[i]).max().unwrap_or(0)).sum();
    padded as f64 / real as f64
}

/// Token lengths of the checkout's chunks, and batching by bytes, tokens and budget compared.
fn shapes(repo: &Path, assets: &EmbedderConfig) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (texts, lines) = chunk_texts(repo, usize::MAX);
    let all: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut bare = Bare::new(assets, threads);
    let tokens = bare.tokens(&all);
    let mut sorted = tokens.clone();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    let full = tokens.iter().filter(|&&t| t >= 256).count();
    let mean = tokens.iter().sum::<usize>() as f64 / tokens.len() as f64;
    let short = tokens.iter().filter(|&&t| t <= 24).count();
    println!("chunks              {} ({lines} lines of source)", all.len());
    println!(
        "tokens per chunk    mean {mean:.0}, p10 {}, p50 {}, p90 {}, max {}; {:.1}% cut at 256, \
         {short} of 24 or fewer",
        at(0.1),
        at(0.5),
        at(0.9),
        at(1.0),
        100.0 * full as f64 / all.len() as f64
    );
    let bytes: Vec<usize> = all.iter().map(|t| t.len()).collect();
    // Each way of batching: its name, its batches of every chunk, and of the sample.
    type Batches = Vec<Vec<usize>>;
    let mut plans: Vec<(String, Batches, Batches)> = Vec::new();
    let step = (all.len() / 768).max(1);
    let sample: Vec<usize> = (0..all.len()).step_by(step).take(768).collect();
    let sample_texts: Vec<&str> = sample.iter().map(|&i| all[i]).collect();
    let sample_tokens: Vec<usize> = sample.iter().map(|&i| tokens[i]).collect();
    let sample_bytes: Vec<usize> = sample.iter().map(|&i| bytes[i]).collect();
    for size in [1, 2, 4, 8, 16, 32, 64] {
        if size >= 8 {
            plans.push((
                format!("by bytes, {size}"),
                sorted_batches(&bytes, size),
                sorted_batches(&sample_bytes, size),
            ));
        }
        plans.push((
            format!("by tokens, {size}"),
            sorted_batches(&tokens, size),
            sorted_batches(&sample_tokens, size),
        ));
    }
    for budget in [512, 1024, 2048, 4096] {
        plans.push((
            format!("to {budget} tokens"),
            budget_batches(&tokens, budget),
            budget_batches(&sample_tokens, budget),
        ));
    }
    println!("sample              {} chunks, {threads} threads, best of 2", sample.len());
    // Batching as it was before `shapes` was measured: 32 sorted by bytes.
    let reference = bare.embed_in(&sample_texts, &sorted_batches(&sample_bytes, 32));
    for (name, whole, part) in &plans {
        let mut best = Duration::MAX;
        let mut vectors = Vec::new();
        for _ in 0..2 {
            let started = Instant::now();
            vectors = bare.embed_in(&sample_texts, part);
            best = best.min(started.elapsed());
        }
        let agreement = min_cosine(&vectors, &reference);
        println!(
            "{name:<19} padding x{:.3}, {:.1} chunks/s, min cosine to 32 by bytes {agreement:.5}",
            padding(&tokens, whole),
            sample.len() as f64 / best.as_secs_f64()
        );
    }
}

/// The model run by hand: the tokenizer as fastembed configures it (truncation at 256 tokens,
/// padding to the longest of the batch), texts in batches of `BATCH` sorted by tokens, mean pooling, unit length.
struct Bare {
    tokenizer: Tokenizer,
    session: Session,
}

impl Bare {
    fn new(assets: &EmbedderConfig, threads: usize) -> Bare {
        let mut tokenizer = Tokenizer::from_file(assets.model_dir.join("tokenizer.json")).unwrap();
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: 256, ..Default::default() }))
            .unwrap()
            .with_padding(Some(PaddingParams { pad_token: "[PAD]".into(), ..Default::default() }));
        let environment = indexer::embed::runtime(&assets.onnxruntime).unwrap();
        let session = Session::builder(&environment)
            .unwrap()
            .with_intra_threads(threads)
            .unwrap()
            .commit_from_file(assets.model_dir.join("model.onnx"))
            .unwrap();
        Bare { tokenizer, session }
    }

    /// As `LocalModel` batches: sorted by tokens, [`BATCH`] at a time.
    fn embed(&mut self, texts: &[&str]) -> Vec<Vec<f32>> {
        let tokens = self.tokens(texts);
        self.embed_in(texts, &sorted_batches(&tokens, BATCH))
    }

    /// Tokens per text, as the model reads it (truncated, with its two special tokens).
    fn tokens(&self, texts: &[&str]) -> Vec<usize> {
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true).unwrap();
        encodings
            .iter()
            .map(|e| e.get_attention_mask().iter().filter(|&&m| m == 1).count())
            .collect()
    }

    /// Embeds `texts` in the given batches (indices into `texts`).
    fn embed_in(&mut self, texts: &[&str], batches: &[Vec<usize>]) -> Vec<Vec<f32>> {
        let mut vectors = vec![Vec::new(); texts.len()];
        for batch in batches {
            let inputs: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let encodings = self.tokenizer.encode_batch(inputs, true).unwrap();
            let (rows, len) = (encodings.len(), encodings[0].get_ids().len());
            let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<i64> {
                encodings.iter().flat_map(|e| f(e).iter().map(|&x| i64::from(x))).collect()
            };
            let mask = flat(&|e| e.get_attention_mask());
            let outputs = self
                .session
                .run(ort::inputs![
                    "input_ids" => Tensor::from_array(([rows, len], flat(&|e| e.get_ids()))).unwrap(),
                    "attention_mask" => Tensor::from_array(([rows, len], mask.clone())).unwrap(),
                    "token_type_ids" => Tensor::from_array(([rows, len], flat(&|e| e.get_type_ids()))).unwrap(),
                ])
                .unwrap();
            let (shape, hidden) = outputs[0].try_extract_tensor::<f32>().unwrap();
            let dims = shape[2] as usize;
            for (row, &i) in batch.iter().enumerate() {
                let mut pooled = vec![0.0f32; dims];
                let mut count = 0.0;
                for t in 0..len {
                    if mask[row * len + t] == 1 {
                        let at = (row * len + t) * dims;
                        pooled.iter_mut().zip(&hidden[at..at + dims]).for_each(|(p, h)| *p += h);
                        count += 1.0;
                    }
                }
                pooled.iter_mut().for_each(|p| *p /= count);
                let norm = pooled.iter().map(|x| x * x).sum::<f32>().sqrt();
                vectors[i] = pooled.iter().map(|x| x / norm).collect();
            }
        }
        vectors
    }
}

async fn index(data: &Path, repo: &Path, touch: &str, embedder: Arc<Embedder>) {
    assert!(!data.exists(), "the index phase starts from a new data directory");
    let indexer = open(data, embedder).await;
    let source = || Source::parse(repo.to_str().unwrap()).unwrap();

    let (parsed, total, status) = timed_job(&indexer, source()).await;
    let stats = &status.repo.stats;
    println!(
        "repository          {} ({} files, {} lines, {} chunks)",
        repo.display(),
        stats.files,
        stats.lines,
        stats.chunks
    );
    println!(
        "full index          {:.1} s: parsing and lexical index {:.1} s, embedding {} chunks {:.1} s ({:.1} chunks/s)",
        total.as_secs_f64(),
        parsed.as_secs_f64(),
        status.chunks_to_embed,
        (total - parsed).as_secs_f64(),
        f64::from(status.chunks_to_embed) / (total - parsed).as_secs_f64()
    );

    let path = repo.join(touch);
    let original = std::fs::read(&path).unwrap();
    let mut changed = original.clone();
    changed.extend_from_slice(b"\n/// Added by the benchmark.\npub fn bench_added(x: u64) -> u64 {\n    x.rotate_left(7) ^ 0x5bd1e995\n}\n");
    std::fs::write(&path, &changed).unwrap();
    let (_, total, status) = timed_job(&indexer, source()).await;
    std::fs::write(&path, &original).unwrap();
    println!(
        "one-file re-index   {:.0} ms ({} file parsed, {} chunk embedded)",
        total.as_secs_f64() * 1000.0,
        status.files_parsed,
        status.chunks_to_embed
    );
    let (_, total, status) = timed_job(&indexer, source()).await;
    println!(
        "restored re-index   {:.0} ms ({} chunks embedded)",
        total.as_secs_f64() * 1000.0,
        status.chunks_to_embed
    );
    let (_, total, _) = timed_job(&indexer, source()).await;
    println!("unchanged re-index  {:.0} ms", total.as_secs_f64() * 1000.0);
}

/// The CoSQA corpus (one function per file, under `<data>/cosqa`), then folders until the table
/// holds `wanted` chunks.
async fn fill(data: &Path, cosqa: &Path, wanted: u32, folders: &[&str], embedder: Arc<Embedder>) {
    let indexer = open(data, embedder).await;
    let corpus: HashMap<String, usize> =
        serde_json::from_str(&std::fs::read_to_string(cosqa.join("code_idx_map.txt")).unwrap())
            .unwrap();
    let corpus_dir = data.join("cosqa");
    std::fs::create_dir_all(&corpus_dir).unwrap();
    for (code, index) in &corpus {
        std::fs::write(corpus_dir.join(format!("f{index}.py")), code).unwrap();
    }
    let mut sources = vec![corpus_dir.to_str().unwrap().to_owned()];
    sources.extend(folders.iter().map(|f| (*f).to_owned()));
    for dir in sources {
        let chunks = table_chunks(&indexer).await;
        if chunks >= wanted {
            break;
        }
        let (_, total, status) = timed_job(&indexer, Source::parse(&dir).unwrap()).await;
        println!(
            "added               {dir} ({} chunks, {} embedded here, {:.0} s)",
            status.repo.stats.chunks,
            status.chunks_to_embed,
            total.as_secs_f64()
        );
    }
    println!("chunks in the table {}", table_chunks(&indexer).await);
}

async fn table_chunks(indexer: &Indexer) -> u32 {
    let repos = indexer.store().repos().await.unwrap();
    repos.iter().map(|r| r.stats.chunks).sum()
}

async fn query(data: &Path, cosqa: &Path, embedder: Arc<Embedder>) {
    let indexer = open(data, embedder).await;
    let repos = indexer.store().repos().await.unwrap();
    let corpus = data.join("cosqa").canonicalize().expect("run fill first");
    let cosqa_id = &repos.iter().find(|r| r.checkout == corpus).expect("run fill first").id;
    let embedded: u32 = repos.iter().map(|r| r.stats.embedded).sum();
    println!(
        "table               {} repositories, {} chunks, {embedded} with vectors",
        repos.len(),
        table_chunks(&indexer).await
    );

    let queries: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(cosqa.join("cosqa-retrieval-dev-500.json")).unwrap(),
    )
    .unwrap();
    for mode in Mode::ALL {
        let query = |text: &str, repos: Vec<String>| SearchQuery {
            text: text.to_owned(),
            mode,
            repos,
            language: None,
            path_glob: None,
            kind: None,
            limit: 10,
            offset: 0,
        };
        for q in queries.iter().take(20) {
            indexer.search(&query(q["doc"].as_str().unwrap(), Vec::new())).await.unwrap();
        }
        let mut times = Vec::new();
        for q in &queries {
            let started = Instant::now();
            indexer.search(&query(q["doc"].as_str().unwrap(), Vec::new())).await.unwrap();
            times.push(started.elapsed());
        }
        times.sort();
        let mut mrr = 0.0;
        for q in &queries {
            let gold = format!("f{}.py", q["retrieval_idx"].as_u64().unwrap());
            let hits = indexer
                .search(&query(q["doc"].as_str().unwrap(), vec![cosqa_id.clone()]))
                .await
                .unwrap();
            let mut files: Vec<&str> = Vec::new();
            for hit in &hits {
                if !files.contains(&hit.path.as_str()) {
                    files.push(&hit.path);
                }
            }
            if let Some(rank) = files.iter().position(|f| *f == gold) {
                mrr += 1.0 / (rank + 1) as f64;
            }
        }
        println!(
            "{:<9} queries   p50 {:.1} ms, p95 {:.1} ms over {} queries; CoSQA MRR@10 {:.3}",
            mode.as_str(),
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() * 95 / 100].as_secs_f64() * 1000.0,
            times.len(),
            mrr / queries.len() as f64
        );
    }

    let mut source_bytes = 0;
    for repo in &repos {
        for file in indexer.store().load_files(&repo.id).await.unwrap() {
            source_bytes +=
                std::fs::metadata(repo.checkout.join(&file.path)).map_or(0, |m| m.len());
        }
    }
    let lance = dir_size(&data.join("lance"));
    let sqlite = dir_size(data) - lance - dir_size(&corpus) - dir_size(&data.join("repos"));
    println!(
        "size on disk        source {:.0} MiB; LanceDB {:.0} MiB ({:.1}× the source), SQLite {:.0} MiB",
        mib(source_bytes),
        mib(lance),
        lance as f64 / source_bytes as f64,
        mib(sqlite)
    );
}

async fn stages(data: &Path, cosqa: &Path, model: Arc<LocalModel>) {
    let queries: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(cosqa.join("cosqa-retrieval-dev-500.json")).unwrap(),
    )
    .unwrap();
    let texts: Vec<&str> = queries.iter().map(|q| q["doc"].as_str().unwrap()).collect();
    let lance = data.join("lance").display().to_string();
    let index =
        indexer::search::SearchIndex::open(&lance, &indexer::VectorSpace::local()).await.unwrap();
    let indexer = open(data, Arc::new(Embedder::Local(Arc::clone(&model)))).await;
    let embedder = model;
    let query = |text: &str, mode| SearchQuery {
        text: text.to_owned(),
        mode,
        repos: Vec::new(),
        language: None,
        path_glob: None,
        kind: None,
        limit: 10,
        offset: 0,
    };
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embedder.embed_query(t).unwrap()).collect();

    let mut times = Vec::new();
    for text in &texts {
        let started = Instant::now();
        embedder.embed_query(text).unwrap();
        times.push(started.elapsed());
    }
    report("embed the query", times);
    for mode in Mode::ALL {
        let mut times = Vec::new();
        for (text, vector) in texts.iter().zip(&vectors) {
            let started = Instant::now();
            index.search(&query(text, mode), &[vector]).await.unwrap();
            times.push(started.elapsed());
        }
        report(&format!("index, {}", mode.as_str()), times);
    }
    vector_variants(data, &vectors).await;
    for mode in Mode::ALL {
        let mut times = Vec::new();
        for text in &texts {
            let started = Instant::now();
            indexer.search(&query(text, mode)).await.unwrap();
            times.push(started.elapsed());
        }
        report(&format!("Indexer::search, {}", mode.as_str()), times);
    }
}

/// The vector query alone, in variants: latency, and recall@10 against an exact scan.
async fn vector_variants(data: &Path, vectors: &[Vec<f32>]) {
    use futures::TryStreamExt;
    use lancedb::arrow::arrow_array::{Array, StringArray};
    use lancedb::query::{ExecutableQuery, QueryBase, Select};

    let db = lancedb::connect(data.join("lance").to_str().unwrap()).execute().await.unwrap();
    let table = db.open_table("chunks").execute().await.unwrap();
    type Variant = fn(lancedb::query::VectorQuery) -> lancedb::query::VectorQuery;
    let variants: [(&str, Variant); 8] = [
        ("exact", |q| q.bypass_vector_index()),
        ("IS NOT NULL prefilter", |q| q.only_if("vector IS NOT NULL")),
        ("IS NOT NULL postfilter", |q| q.only_if("vector IS NOT NULL").postfilter()),
        ("no filter", |q| q),
        ("no filter, nprobes 10", |q| q.nprobes(10).unwrap()),
        ("no filter, nprobes 40", |q| q.nprobes(40).unwrap()),
        ("no filter, refine 5", |q| q.refine_factor(5)),
        ("language prefilter, refine 5", |q| q.only_if("language = 'python'").refine_factor(5)),
    ];
    let mut exact: Vec<Vec<String>> = Vec::new();
    for (name, variant) in variants {
        let mut times = Vec::new();
        let mut found = 0;
        for (i, vector) in vectors.iter().enumerate() {
            let q = table
                .query()
                .nearest_to(vector.as_slice())
                .unwrap()
                .distance_type(lancedb::DistanceType::Cosine)
                .select(Select::columns(&["id"]))
                .limit(10);
            let started = Instant::now();
            let batches: Vec<_> = variant(q).execute().await.unwrap().try_collect().await.unwrap();
            times.push(started.elapsed());
            let ids: Vec<String> = batches
                .iter()
                .flat_map(|b| {
                    let col = b.column_by_name("id").unwrap();
                    let col = col.as_any().downcast_ref::<StringArray>().unwrap().clone();
                    (0..col.len()).map(move |j| col.value(j).to_owned())
                })
                .collect();
            if name == "exact" {
                exact.push(ids);
            } else {
                found += ids.iter().filter(|id| exact[i].contains(id)).count();
            }
        }
        let total: usize = exact.iter().map(Vec::len).sum();
        let recall = match name {
            "exact" => "the reference".to_owned(),
            _ => format!("recall@10 {:.3}", found as f64 / total as f64),
        };
        report(&format!("vector, {name} ({recall})"), times);
    }
}

fn report(stage: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{stage:<50} p50 {:.1} ms, p95 {:.1} ms",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() * 95 / 100].as_secs_f64() * 1000.0,
    );
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
