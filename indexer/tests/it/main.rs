//! Indexing real multi-language repositories from `fixtures/repos/`.

mod golden;
