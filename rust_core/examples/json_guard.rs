//! µs per `json_guard::check` of one demo CDR and of a 1 MB array of them: `cargo run --release --example json_guard`.

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../app/demo/data/cdrs.jsonl");
    let text = std::fs::read(path).expect("demo CDRs");
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let mut mb = b"[".to_vec();
    for line in lines.iter().cycle() {
        if mb.len() >= 1_000_000 {
            break;
        }
        if mb.len() > 1 {
            mb.push(b',');
        }
        mb.extend_from_slice(line);
    }
    mb.push(b']');
    for (name, doc, n) in [("1 CDR", lines[0], 100_000), ("1 MB", &mb[..], 200)] {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..n {
                assert!(rust_core::json_guard::check(black_box(doc), 32, 20).is_ok());
            }
            best = best.min(t.elapsed().as_secs_f64() / f64::from(n) * 1e6);
        }
        println!("{name} ({} B): {best:.2} µs", doc.len());
    }
}
