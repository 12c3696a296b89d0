//! Price a JSON Lines file and print the result lines to stdout (`--breakdown` for per-piece lines):
//! `cargo run --release --example price_file -- CDRS.jsonl TARIFFS.json [--breakdown]`. Used to prove
//! that a speed change leaves every output byte as it was (compare the sha256 of its output).

use std::io::Write;

#[path = "common/inputs.rs"]
mod common;

fn main() {
    let (buf, set, opts) = common::inputs();
    let out = rust_core::batch::price_jsonl(&buf, 1, Some(&set), &opts);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out.output).unwrap();
    stdout.write_all(rust_core::batch::errors_jsonl(&out.errors).as_bytes()).unwrap();
}
