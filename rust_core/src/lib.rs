//! ocpi-engine's rating core: exact OCPI tariff evaluation and CDR pricing.
//!
//! Pure Rust; the Python bindings live in `python.rs` alone (feature `python`).

pub mod batch;
#[cfg(feature = "courier")]
pub mod courier;
pub mod datetime;
pub mod error;
pub mod json_guard;
pub mod model;
pub mod money;
pub mod number;
pub mod pgcopy;
pub mod pricing;
pub mod reprice;
pub mod session;
pub mod status;
pub mod tariff;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
pub(crate) mod testutil;

pub use chrono_tz;
pub use error::InputError;
pub use model::Version;
pub use money::{Money, Rounding, RoundingMode};
pub use pricing::{MissingVat, PricedCdr, PricingOptions, SplitMode};
pub use tariff::TariffSet;

/// Price one CDR document; `tariffs` overrides or complements the CDR's own `tariffs`.
pub fn price_cdr(cdr_json: &[u8], tariffs: Option<&TariffSet>, opts: &PricingOptions) -> Result<PricedCdr, InputError> {
    let cdr = model::cdr::parse_cdr_with(cdr_json, opts.strict)?;
    pricing::price(&cdr, tariffs, opts)
}

/// Price one CDR document and write the result as JSON.
pub fn price_cdr_json(cdr_json: &[u8], tariffs: Option<&TariffSet>, opts: &PricingOptions) -> Result<Vec<u8>, InputError> {
    let priced = price_cdr(cdr_json, tariffs, opts)?;
    let mut out = String::with_capacity(1024);
    pricing::output::write_result(&priced, opts, &mut out);
    Ok(out.into_bytes())
}
