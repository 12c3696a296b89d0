//! Where the time of batch pricing goes, one thread: `cargo run --release --example stages -- CDRS.jsonl TARIFFS.json`.
//!
//! Prints µs per CDR of each stage and its ratio to a bare serde parse. Each stage is its own
//! out-of-line function, so that under `valgrind --tool=callgrind` (build with `--profile profiling`)
//! `callgrind_annotate --inclusive=yes` gives every stage's instruction count without clock noise.

use rust_core::batch::split_lines;
use rust_core::model::cdr::Cdr;
use rust_core::pricing::{PricedCdr, PricingOptions};
use rust_core::TariffSet;
use std::hint::black_box;
use std::time::Instant;

#[inline(never)]
fn stage_parse_only(lines: &[(usize, &[u8])]) {
    for (_, l) in lines {
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(l).unwrap());
    }
}

#[inline(never)]
fn stage_read<'a>(lines: &[(usize, &'a [u8])]) -> Vec<Cdr<'a>> {
    lines.iter().map(|(_, l)| rust_core::model::cdr::parse_cdr(l).unwrap()).collect()
}

#[inline(never)]
fn stage_price(cdrs: &[Cdr], set: &TariffSet, opts: &PricingOptions) -> Vec<PricedCdr> {
    cdrs.iter().map(|c| rust_core::pricing::price(c, Some(set), opts).unwrap()).collect()
}

#[inline(never)]
fn stage_write(priced: &[PricedCdr], opts: &PricingOptions) {
    let mut out = String::new();
    for p in priced {
        out.clear();
        rust_core::pricing::output::write_result(p, opts, &mut out);
        black_box(&out);
    }
}

#[inline(never)]
fn stage_batch(buf: &[u8], set: &TariffSet, opts: &PricingOptions) {
    black_box(rust_core::batch::price_jsonl(buf, 1, Some(set), opts));
}

#[path = "common/inputs.rs"]
mod common;

fn main() {
    let (buf, set, opts) = common::inputs();
    let lines = split_lines(&buf, 1);
    let n = lines.len() as f64;
    let us = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / n;

    let t = Instant::now();
    stage_parse_only(&lines);
    let parse = us(t);
    let t = Instant::now();
    let cdrs = stage_read(&lines);
    let read = us(t);
    let t = Instant::now();
    let priced = stage_price(&cdrs, &set, &opts);
    let price = us(t);
    let t = Instant::now();
    stage_write(&priced, &opts);
    let write = us(t);
    drop((priced, cdrs));
    // The batch path as `price_batch` runs it (rayon: set RAYON_NUM_THREADS=1 for one thread).
    let t = Instant::now();
    stage_batch(&buf, &set, &opts);
    let batch = us(t);
    println!("{} CDRs, {:.0} B/CDR", lines.len(), buf.len() as f64 / n);
    println!("{:<12} {:>8} {:>9}", "stage", "µs/CDR", "× parse");
    for (name, v) in [("parse only", parse), ("read CDR", read), ("price", price), ("write", write), ("batch", batch)] {
        println!("{name:<12} {v:>8.2} {:>9.2}", v / parse);
    }
}
