//! The command line the examples share: `CDRS.jsonl TARIFFS.json [--breakdown]`, priced in Europe/Amsterdam.

use rust_core::TariffSet;
use rust_core::pricing::PricingOptions;

pub fn inputs() -> (Vec<u8>, TariffSet, PricingOptions) {
    let args: Vec<String> = std::env::args().collect();
    let buf = std::fs::read(&args[1]).expect("cdrs");
    let set = TariffSet::from_json(&std::fs::read(&args[2]).expect("tariffs")).expect("tariffs parse");
    let breakdown = args.iter().any(|a| a == "--breakdown");
    (buf, set, PricingOptions { time_zone: Some("Europe/Amsterdam".parse().unwrap()), breakdown, ..Default::default() })
}
