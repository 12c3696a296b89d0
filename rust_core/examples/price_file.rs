//! Price a JSON Lines file and print the result lines to stdout (`--breakdown` for per-piece lines):
//! `cargo run --release --example price_file -- CDRS.jsonl TARIFFS.json [--breakdown]`. Used to prove
//! that a speed change leaves every output byte as it was (compare the sha256 of its output).

use rust_core::TariffSet;
use rust_core::pricing::PricingOptions;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let buf = std::fs::read(&args[1]).expect("cdrs");
    let set = TariffSet::from_json(&std::fs::read(&args[2]).expect("tariffs")).expect("tariffs parse");
    let breakdown = args.iter().any(|a| a == "--breakdown");
    let opts = PricingOptions { time_zone: Some("Europe/Amsterdam".parse().unwrap()), breakdown, ..Default::default() };
    let out = rust_core::batch::price_jsonl(&buf, 1, Some(&set), &opts);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out.output).unwrap();
    stdout.write_all(rust_core::batch::errors_jsonl(&out.errors).as_bytes()).unwrap();
}
