//! Where the time of batch pricing goes, one thread: `cargo run --release --example stages -- CDRS.jsonl TARIFFS.json`.

use rust_core::{PricingOptions, TariffSet};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let buf = std::fs::read(&args[1]).expect("cdrs");
    let set = TariffSet::from_json(&std::fs::read(&args[2]).expect("tariffs")).expect("tariffs parse");
    let opts = PricingOptions { time_zone: Some("Europe/Amsterdam".parse().unwrap()), breakdown: false, ..Default::default() };
    let lines = rust_core::batch::split_lines(&buf, 1);
    let n = lines.len() as f64;
    let t = Instant::now();
    for (_, l) in &lines {
        serde_json::from_slice::<serde::de::IgnoredAny>(l).unwrap();
    }
    println!("parse only     {:>8.0} /s", n / t.elapsed().as_secs_f64());
    let t = Instant::now();
    let cdrs: Vec<_> = lines.iter().map(|(_, l)| rust_core::model::cdr::parse_cdr(l).unwrap()).collect();
    println!("read CDR       {:>8.0} /s", n / t.elapsed().as_secs_f64());
    let t = Instant::now();
    let priced: Vec<_> = cdrs.iter().map(|c| rust_core::pricing::price(c, Some(&set), &opts).unwrap()).collect();
    println!("price          {:>8.0} /s", n / t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut out = String::new();
    for p in &priced {
        out.clear();
        rust_core::pricing::output::write_result(p, &opts, &mut out);
    }
    println!("write          {:>8.0} /s", n / t.elapsed().as_secs_f64());
}
