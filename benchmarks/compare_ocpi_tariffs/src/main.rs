//! `compare`: price the same OCPI 2.2.1 CDRs with `ocpi-tariffs` (tandemdrive's open reference
//! pricer, pinned in Cargo.toml) and with this project's `rust_core`, time both on one thread,
//! and count how often their totals agree.
//!
//! ```text
//! compare --cdrs CDRS.jsonl --tariffs TARIFFS.json [--time-zone Europe/Amsterdam]
//!         [--limit N] [--runs R] [--report diffs.jsonl] [--report-include-cdr]
//!         [--summary-json summary.json]
//! ```
//!
//! See docs/ocpi-tariffs-comparison.md for what is timed and how the numbers are compared.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufWriter, Write as _};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use ocpi_tariffs::{ToHoursDecimal as _, Warning as _};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

struct Args {
    cdrs: String,
    tariffs: String,
    time_zone: String,
    limit: Option<usize>,
    runs: usize,
    report: Option<String>,
    report_include_cdr: bool,
    summary_json: Option<String>,
    /// `rust_core::SplitMode` for our side: None = rust_core's default.
    ours_split: Option<String>,
    /// `rust_core::MissingVat` for our side: None = rust_core's default (no VAT).
    ours_missing_vat: Option<String>,
}

const USAGE: &str = "usage: compare --cdrs CDRS.jsonl --tariffs TARIFFS.json \
[--time-zone Europe/Amsterdam] [--limit N] [--runs R] [--report diffs.jsonl] \
[--report-include-cdr] [--summary-json summary.json] [--ours-split at-boundaries|period-start] \
[--ours-missing-vat no-vat|unknown]";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut cdrs = None;
    let mut tariffs = None;
    let mut time_zone = "Europe/Amsterdam".to_owned();
    let mut limit = None;
    let mut runs = 3usize;
    let mut report = None;
    let mut report_include_cdr = false;
    let mut summary_json = None;
    let mut ours_split = None;
    let mut ours_missing_vat = None;
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--cdrs" => cdrs = Some(val("--cdrs")?),
            "--tariffs" => tariffs = Some(val("--tariffs")?),
            "--time-zone" => time_zone = val("--time-zone")?,
            "--limit" => {
                limit = Some(val("--limit")?.parse().map_err(|e| format!("--limit: {e}"))?)
            }
            "--runs" => {
                runs = val("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?;
                if runs == 0 {
                    return Err("--runs must be >= 1".into());
                }
            }
            "--report" => report = Some(val("--report")?),
            "--report-include-cdr" => report_include_cdr = true,
            "--summary-json" => summary_json = Some(val("--summary-json")?),
            "--ours-split" => ours_split = Some(val("--ours-split")?),
            "--ours-missing-vat" => ours_missing_vat = Some(val("--ours-missing-vat")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        cdrs: cdrs.ok_or(format!("--cdrs is required\n{USAGE}"))?,
        tariffs: tariffs.ok_or(format!("--tariffs is required\n{USAGE}"))?,
        time_zone,
        limit,
        runs,
        report,
        report_include_cdr,
        summary_json,
        ours_split,
        ours_missing_vat,
    })
}

// ---------------------------------------------------------------------------------------------
// Normalised totals of one side
// ---------------------------------------------------------------------------------------------

/// The money totals compared, in this order. Names are the OCPI CDR field names.
const MONEY_FIELDS: [&str; 5] = [
    "total_cost",
    "total_energy_cost",
    "total_time_cost",
    "total_parking_cost",
    "total_fixed_cost",
];
/// Quantities compared for information (not part of "all agree").
const QTY_FIELDS: [&str; 3] = ["total_energy", "total_time", "total_parking_time"];

/// One OCPI `Price`. `present == false` means the side did not report the object at all; it is
/// compared as `{excl_vat: 0, incl_vat: 0}` (ocpi-tariffs reports `None` for a dimension that
/// had no priced volume; an absent total is zero).
#[derive(Clone, Debug, Default)]
struct Money {
    present: bool,
    excl: Option<Decimal>,
    incl: Option<Decimal>,
}

impl Money {
    fn part(&self, incl: bool) -> Option<Decimal> {
        if !self.present {
            return Some(Decimal::ZERO);
        }
        if incl {
            self.incl
        } else {
            self.excl
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Totals {
    money: [Money; 5],
    qty: [Option<Decimal>; 3],
}

fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

fn same(a: Option<Decimal>, b: Option<Decimal>, dp: u32) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => round(a, dp) == round(b, dp),
        (None, None) => true,
        _ => false,
    }
}

fn dec_str(d: Option<Decimal>) -> Value {
    match d {
        Some(d) => Value::String(d.normalize().to_string()),
        None => Value::Null,
    }
}

// ---------------------------------------------------------------------------------------------
// Our side: result JSON -> Totals (exact decimal text, no f64 round trip)
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct OurPrice<'a> {
    #[serde(borrow)]
    excl_vat: Option<&'a RawValue>,
    #[serde(borrow, default)]
    incl_vat: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OurResult<'a> {
    #[serde(borrow, default)]
    total_cost: Option<OurPrice<'a>>,
    #[serde(borrow, default)]
    total_energy_cost: Option<OurPrice<'a>>,
    #[serde(borrow, default)]
    total_time_cost: Option<OurPrice<'a>>,
    #[serde(borrow, default)]
    total_parking_cost: Option<OurPrice<'a>>,
    #[serde(borrow, default)]
    total_fixed_cost: Option<OurPrice<'a>>,
    #[serde(borrow, default)]
    total_energy: Option<&'a RawValue>,
    #[serde(borrow, default)]
    total_time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    total_parking_time: Option<&'a RawValue>,
}

fn raw_dec(raw: Option<&RawValue>) -> Result<Option<Decimal>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let s = raw.get().trim();
    if s == "null" {
        return Ok(None);
    }
    let s = s.trim_matches('"');
    let d = if s.contains(['e', 'E']) {
        Decimal::from_scientific(s)
    } else {
        Decimal::from_str(s)
    };
    d.map(Some).map_err(|e| format!("not a decimal number {s:?}: {e}"))
}

fn our_totals(bytes: &[u8]) -> Result<Totals, String> {
    let r: OurResult<'_> =
        serde_json::from_slice(bytes).map_err(|e| format!("result is not the agreed JSON: {e}"))?;
    let money = |p: Option<OurPrice<'_>>| -> Result<Money, String> {
        Ok(match p {
            None => Money::default(),
            Some(p) => Money {
                present: true,
                excl: raw_dec(p.excl_vat)?,
                incl: raw_dec(p.incl_vat)?,
            },
        })
    };
    Ok(Totals {
        money: [
            money(r.total_cost)?,
            money(r.total_energy_cost)?,
            money(r.total_time_cost)?,
            money(r.total_parking_cost)?,
            money(r.total_fixed_cost)?,
        ],
        qty: [
            raw_dec(r.total_energy)?,
            raw_dec(r.total_time)?,
            raw_dec(r.total_parking_time)?,
        ],
    })
}

// ---------------------------------------------------------------------------------------------
// ocpi-tariffs side: Report -> Totals
// ---------------------------------------------------------------------------------------------

type OtVerdict = ocpi_tariffs::Verdict<ocpi_tariffs::price::Report, ocpi_tariffs::price::Warning>;

// Not boxed: a box would add one allocation per CDR inside ocpi-tariffs' timed loop.
#[allow(clippy::large_enum_variant)]
enum OtOutcome {
    Parse(ocpi_tariffs::ParseError),
    Price(OtVerdict),
}

fn ot_money(p: Option<ocpi_tariffs::Price>) -> Money {
    match p {
        None => Money::default(),
        Some(p) => Money {
            present: true,
            excl: Some(Decimal::from(p.excl_vat)),
            incl: p.incl_vat.map(Decimal::from),
        },
    }
}

fn ot_totals(r: &ocpi_tariffs::price::Report) -> Totals {
    Totals {
        money: [
            ot_money(r.total_cost.calculated),
            ot_money(r.total_energy_cost.calculated),
            ot_money(r.total_charging_time_cost.calculated),
            ot_money(r.total_idle_cost.calculated),
            ot_money(r.total_fixed_cost.calculated),
        ],
        qty: [
            r.total_energy.calculated.map(Decimal::from),
            Some(r.total_time.calculated.to_hours_dec()),
            Some(
                r.total_idle_time
                    .calculated
                    .map(|d| d.to_hours_dec())
                    .unwrap_or(Decimal::ZERO),
            ),
        ],
    }
}

/// ocpi-tariffs' money totals before its 4-decimal half-even rounding: the per-period costs of
/// its own breakdown, summed. `total_cost` is their sum, except when the reported (rounded)
/// total differs from it by more than one 4-decimal unit (min/max clamp): then the reported one.
fn ot_unrounded(r: &ocpi_tariffs::price::Report, rounded: &Totals) -> [Money; 5] {
    let mut m: [Money; 5] = Default::default();
    let mut add = |i: usize, p: Option<ocpi_tariffs::Price>| {
        if let Some(p) = p {
            let e = m[i].excl.unwrap_or_default() + Decimal::from(p.excl_vat);
            let inc = if m[i].present { m[i].incl } else { Some(Decimal::ZERO) };
            m[i] = Money {
                present: true,
                excl: Some(e),
                incl: inc.zip(p.incl_vat).map(|(a, b)| a + Decimal::from(b)),
            };
        }
    };
    for p in &r.periods {
        let d = &p.dimensions;
        add(1, d.energy.as_ref().and_then(|x| x.cost()));
        add(2, d.duration_charging.as_ref().and_then(|x| x.cost()));
        add(3, d.duration_idle.as_ref().and_then(|x| x.cost()));
        add(4, d.flat.cost());
    }
    let mut total = Money::default();
    for x in &m[1..] {
        if x.present {
            let inc = if total.present { total.incl } else { Some(Decimal::ZERO) };
            total = Money {
                present: true,
                excl: Some(total.excl.unwrap_or_default() + x.excl.unwrap_or_default()),
                incl: inc.zip(x.incl).map(|(a, b)| a + b),
            };
        }
    }
    let unit = Decimal::new(1, 4);
    let close = |a: Option<Decimal>, b: Option<Decimal>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= unit,
        (None, None) => true,
        _ => false,
    };
    let rep = &rounded.money[0];
    m[0] = if close(total.part(false), rep.part(false)) && close(total.part(true), rep.part(true)) {
        total
    } else {
        rep.clone()
    };
    m
}

fn money_json(m: &Money) -> Value {
    if m.present {
        json!({"excl_vat": dec_str(m.excl), "incl_vat": dec_str(m.incl)})
    } else {
        Value::Null
    }
}

fn ot_diag(
    r: &ocpi_tariffs::price::Report,
    unrounded: &[Money; 5],
    warnings: &ocpi_tariffs::warning::Set<ocpi_tariffs::price::Warning>,
) -> Value {
    let secs = |d: Option<chrono::TimeDelta>| d.map(|d| d.num_milliseconds() as f64 / 1000.0);
    let periods: Vec<Value> = r
        .periods
        .iter()
        .map(|p| {
            let d = &p.dimensions;
            let c = |x: Option<ocpi_tariffs::Price>| x.map(|p| Decimal::from(p.excl_vat).normalize().to_string());
            json!({
                "start": p.start_date_time.to_rfc3339(),
                "end": p.end_date_time.to_rfc3339(),
                "energy_kwh": d.energy.as_ref().map(|x| Decimal::from(x.volume).normalize().to_string()),
                "energy_billed_kwh": d.energy.as_ref().map(|x| Decimal::from(x.billed_volume).normalize().to_string()),
                "energy_cost": c(d.energy.as_ref().and_then(|x| x.cost())),
                "time_s": secs(d.duration_charging.as_ref().map(|x| x.volume)),
                "time_billed_s": secs(d.duration_charging.as_ref().map(|x| x.billed_volume)),
                "time_cost": c(d.duration_charging.as_ref().and_then(|x| x.cost())),
                "parking_s": secs(d.duration_idle.as_ref().map(|x| x.volume)),
                "parking_billed_s": secs(d.duration_idle.as_ref().map(|x| x.billed_volume)),
                "parking_cost": c(d.duration_idle.as_ref().and_then(|x| x.cost())),
                "flat_cost": c(d.flat.cost()),
            })
        })
        .collect();
    json!({
        "tariff_used": r.tariff_used.id,
        "billed_energy_kwh": r.billed_energy.map(|k| Decimal::from(k).normalize().to_string()),
        "billed_charging_time_s": secs(r.billed_charging_time),
        "billed_idle_time_s": secs(r.billed_idle_time),
        "unrounded": MONEY_FIELDS.iter().zip(unrounded).map(|(n, m)| (n.to_string(), money_json(m))).collect::<serde_json::Map<_, _>>(),
        "warnings": warning_ids(warnings),
        "periods": periods,
    })
}

fn warning_ids(set: &ocpi_tariffs::warning::Set<ocpi_tariffs::price::Warning>) -> Value {
    let m: BTreeMap<String, Vec<String>> = set
        .path_id_map()
        .into_iter()
        .map(|(p, ids)| (p.to_owned(), ids.into_iter().map(|i| i.to_string()).collect()))
        .collect();
    serde_json::to_value(m).unwrap_or(Value::Null)
}

/// An error message with indexes and quoted values blanked, to group errors by kind.
fn error_kind(s: &str) -> String {
    let mut out = String::new();
    let mut in_quote = false;
    let mut in_index = false;
    for ch in s.chars() {
        match ch {
            '"' | '`' => {
                in_quote = !in_quote;
                out.push(ch);
            }
            _ if in_quote => {}
            '[' => {
                in_index = true;
                out.push(ch);
            }
            ']' => {
                in_index = false;
                out.push(ch);
            }
            _ if in_index => {}
            _ => out.push(ch),
        }
    }
    out.chars().take(100).collect()
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

struct CdrIn {
    line_no: usize,
    id: String,
    /// Distinct `tariff_id`s of the charging periods, in order of first appearance.
    tariff_ids: Vec<String>,
    /// The CDR line exactly as read: what our side prices.
    json: String,
    /// What ocpi-tariffs prices: `json`, or a copy with placeholder `total_cost` /
    /// `total_energy` / `total_time` added when the line lacks them (ocpi-tariffs requires
    /// them; it does not use them for pricing, only to echo them back as `Total::cdr`).
    ocpi_json: Option<String>,
    /// Indexes into the parsed tariffs handed to ocpi-tariffs for this CDR.
    ocpi_tariffs: Vec<usize>,
}

fn load_cdrs(path: &str, limit: Option<usize>) -> Result<(Vec<CdrIn>, usize), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    let mut patched = 0usize;
    for (i, line) in text.lines().enumerate() {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut v: Value = serde_json::from_str(line)
            .map_err(|e| format!("{path}:{}: not JSON: {e}", i + 1))?;
        let id = v.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
        let mut tariff_ids: Vec<String> = Vec::new();
        if let Some(ps) = v.get("charging_periods").and_then(Value::as_array) {
            for p in ps {
                if let Some(t) = p.get("tariff_id").and_then(Value::as_str) {
                    if !tariff_ids.iter().any(|x| x == t) {
                        tariff_ids.push(t.to_owned());
                    }
                }
            }
        }
        let mut ocpi_json = None;
        if let Some(o) = v.as_object_mut() {
            let mut changed = false;
            for (k, placeholder) in [
                ("total_cost", json!({"excl_vat": 0})),
                ("total_energy", json!(0)),
                ("total_time", json!(0)),
            ] {
                if o.get(k).is_none_or(Value::is_null) {
                    o.insert(k.to_owned(), placeholder);
                    changed = true;
                }
            }
            if changed {
                patched += 1;
                ocpi_json = Some(v.to_string());
            }
        }
        out.push(CdrIn {
            line_no: i + 1,
            id,
            tariff_ids,
            json: line.to_owned(),
            ocpi_json,
            ocpi_tariffs: Vec::new(),
        });
    }
    Ok((out, patched))
}

struct OtTariffs {
    /// Pre-parsed (JSON -> element tree, done once, untimed) tariffs; `None` if ocpi-tariffs
    /// rejected the JSON.
    parsed: Vec<Option<ocpi_tariffs::tariff::Versioned<'static>>>,
    by_id: HashMap<String, usize>,
    parse_errors: Vec<(String, String)>,
}

fn load_ot_tariffs(bytes: &[u8]) -> Result<OtTariffs, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("tariffs: {e}"))?;
    let raws: Vec<Box<RawValue>> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| format!("tariffs: {e}"))?
    } else {
        vec![serde_json::from_str(text).map_err(|e| format!("tariffs: {e}"))?]
    };
    #[derive(Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: String,
    }
    let mut parsed = Vec::new();
    let mut by_id = HashMap::new();
    let mut parse_errors = Vec::new();
    for raw in raws {
        let id = serde_json::from_str::<IdOnly>(raw.get()).map(|x| x.id).unwrap_or_default();
        // Leaked on purpose: ocpi-tariffs' parsed tariffs borrow their source text, and the
        // tariffs live for the whole run of this tool.
        let src: &'static str = Box::leak(raw.get().to_owned().into_boxed_str());
        match ocpi_tariffs::tariff::parse_with_version(src, ocpi_tariffs::Version::V221) {
            Ok(rep) => parsed.push(Some(rep.tariff)),
            Err(e) => {
                parse_errors.push((id.clone(), format!("{e:?}")));
                parsed.push(None);
            }
        }
        by_id.entry(id).or_insert(parsed.len() - 1);
    }
    Ok(OtTariffs { parsed, by_id, parse_errors })
}

// ---------------------------------------------------------------------------------------------
// The two timed loops
// ---------------------------------------------------------------------------------------------

fn run_ocpi_tariffs(cdrs: &[CdrIn], tariffs: &OtTariffs, tz: chrono_tz::Tz) -> (Duration, Vec<OtOutcome>) {
    use ocpi_tariffs::{cdr, price::TariffSource, Version};
    // Untimed: clone the pre-parsed tariff trees each CDR needs (the API consumes them).
    let mut sources: Vec<Vec<ocpi_tariffs::tariff::Versioned<'static>>> = cdrs
        .iter()
        .map(|c| {
            c.ocpi_tariffs
                .iter()
                .filter_map(|&i| tariffs.parsed[i].clone())
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(cdrs.len());
    let t0 = Instant::now();
    for (c, src) in cdrs.iter().zip(sources.iter_mut()) {
        let text = c.ocpi_json.as_deref().unwrap_or(&c.json);
        let r = match cdr::parse_with_version(text, Version::V221) {
            Ok(rep) => OtOutcome::Price(cdr::price(
                &rep.cdr,
                TariffSource::Override(std::mem::take(src)),
                tz,
            )),
            Err(e) => OtOutcome::Parse(e),
        };
        out.push(r);
    }
    let dt = t0.elapsed();
    (dt, out)
}

fn run_ours(
    cdrs: &[CdrIn],
    set: &rust_core::TariffSet,
    opts: &rust_core::PricingOptions,
) -> (Duration, Vec<Result<Vec<u8>, rust_core::InputError>>) {
    let mut out = Vec::with_capacity(cdrs.len());
    let t0 = Instant::now();
    for c in cdrs {
        out.push(rust_core::price_cdr_json(c.json.as_bytes(), Some(set), opts));
    }
    let dt = t0.elapsed();
    (dt, out)
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = real_main(args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn real_main(args: Args) -> Result<(), String> {
    let ot_tz: chrono_tz::Tz = args
        .time_zone
        .parse()
        .map_err(|e| format!("--time-zone {:?}: {e}", args.time_zone))?;
    let our_tz: rust_core::chrono_tz::Tz = args
        .time_zone
        .parse()
        .map_err(|e| format!("--time-zone {:?}: {e}", args.time_zone))?;

    let tariff_bytes = std::fs::read(&args.tariffs).map_err(|e| format!("{}: {e}", args.tariffs))?;
    let (mut cdrs, patched) = load_cdrs(&args.cdrs, args.limit)?;
    if cdrs.is_empty() {
        return Err("no CDRs read".into());
    }

    // Untimed set-up, both sides.
    let ot = load_ot_tariffs(&tariff_bytes)?;
    let mut unknown_tariff_refs = 0usize;
    for c in &mut cdrs {
        if c.tariff_ids.is_empty() {
            // No period names a tariff: give ocpi-tariffs the whole list (it prices with the
            // first one active at the CDR start); our side gets the whole set anyway.
            c.ocpi_tariffs = (0..ot.parsed.len()).collect();
        } else {
            for t in &c.tariff_ids {
                match ot.by_id.get(t) {
                    Some(&i) => c.ocpi_tariffs.push(i),
                    None => unknown_tariff_refs += 1,
                }
            }
        }
    }
    let our_set = rust_core::TariffSet::from_json(&tariff_bytes)
        .map_err(|e| format!("rust_core::TariffSet::from_json: {e:?}"))?;
    let mut opts = rust_core::PricingOptions { time_zone: Some(our_tz), ..Default::default() };
    // Optional: evaluate restrictions the way ocpi-tariffs does (at each period's start, no
    // splitting), to separate splitting differences from everything else.
    match args.ours_split.as_deref() {
        None => {}
        Some("at-boundaries") => opts.split = rust_core::SplitMode::AtBoundaries,
        Some("period-start") => opts.split = rust_core::SplitMode::PeriodStart,
        Some(other) => return Err(format!("--ours-split {other:?}: expected at-boundaries or period-start")),
    }
    // Optional: the older reading of a component without vat (incl_vat unknown, §4.6).
    match args.ours_missing_vat.as_deref() {
        None | Some("no-vat") => {}
        Some("unknown") => opts.missing_vat = rust_core::MissingVat::Unknown,
        Some(other) => return Err(format!("--ours-missing-vat {other:?}: expected no-vat or unknown")),
    }

    let n = cdrs.len();
    let mut best_ot = Duration::MAX;
    let mut best_ours = Duration::MAX;
    let mut all_ot = Vec::new();
    let mut all_ours = Vec::new();
    let mut ot_out = Vec::new();
    let mut our_out = Vec::new();
    for run in 0..args.runs {
        // Alternate which side goes first so neither always gets the warmer caches.
        let (dt_ot, o_ot, dt_ours, o_ours) = if run % 2 == 0 {
            let (a, b) = run_ocpi_tariffs(&cdrs, &ot, ot_tz);
            let (c, d) = run_ours(&cdrs, &our_set, &opts);
            (a, b, c, d)
        } else {
            let (c, d) = run_ours(&cdrs, &our_set, &opts);
            let (a, b) = run_ocpi_tariffs(&cdrs, &ot, ot_tz);
            (a, b, c, d)
        };
        eprintln!(
            "run {}/{}: ocpi-tariffs {:.3} s, ours {:.3} s",
            run + 1,
            args.runs,
            dt_ot.as_secs_f64(),
            dt_ours.as_secs_f64()
        );
        best_ot = best_ot.min(dt_ot);
        best_ours = best_ours.min(dt_ours);
        all_ot.push(dt_ot.as_secs_f64());
        all_ours.push(dt_ours.as_secs_f64());
        ot_out = o_ot;
        our_out = o_ours;
    }

    // ---- compare (untimed) ----
    let mut report = match &args.report {
        Some(p) => Some(BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("{p}: {e}"))?,
        )),
        None => None,
    };
    let mut both_ok = 0usize;
    let mut ot_err = 0usize;
    let mut our_err = 0usize;
    let mut both_err = 0usize;
    let mut ot_err_kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut our_err_kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut ot_warn_kinds: BTreeMap<String, usize> = BTreeMap::new();
    // [field][excl=0/incl=1] agreement at 4 and 2 decimals
    let mut agree4 = [[0usize; 2]; 5];
    let mut agree2 = [[0usize; 2]; 5];
    // 4 decimals, ocpi-tariffs' unrounded value rounded half-up (removes its half-even artefact)
    let mut agree4u = [[0usize; 2]; 5];
    let mut all4u = 0usize;
    let mut qty_agree4 = [0usize; 3];
    let mut all4 = 0usize;
    let mut all2 = 0usize;
    let mut excl_all4 = 0usize;
    let mut excl_all4u = 0usize;
    let mut mismatched_cdrs = 0usize;

    for (c, (o, u)) in cdrs.iter().zip(ot_out.into_iter().zip(our_out.iter())) {
        let ot_res: Result<(Totals, [Money; 5], Value), String> = match o {
            OtOutcome::Parse(e) => Err(format!("parse: {e:?}")),
            OtOutcome::Price(Err(set)) => {
                let (err, _warnings) = set.into_parts();
                let w = err.warning();
                let path = err.element().path().to_string();
                Err(format!("{} at {path}: {w}", w.id()))
            }
            OtOutcome::Price(Ok(caveat)) => {
                let (report, warnings) = caveat.into_parts();
                for (_, ids) in warnings.path_id_map() {
                    for id in ids {
                        *ot_warn_kinds.entry(id.to_string()).or_default() += 1;
                    }
                }
                let t = ot_totals(&report);
                let unrounded = ot_unrounded(&report, &t);
                let diag = ot_diag(&report, &unrounded, &warnings);
                Ok((t, unrounded, diag))
            }
        };
        let our_res: Result<(Totals, Value), String> = match u {
            Err(e) => Err(e.to_string()),
            Ok(bytes) => our_totals(bytes).map(|t| {
                let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
                (t, v)
            }),
        };
        let kind_of = |s: &str| error_kind(s);
        match (&ot_res, &our_res) {
            (Err(a), Err(b)) => {
                both_err += 1;
                ot_err += 1;
                our_err += 1;
                *ot_err_kinds.entry(kind_of(a)).or_default() += 1;
                *our_err_kinds.entry(kind_of(b)).or_default() += 1;
            }
            (Err(a), Ok(_)) => {
                ot_err += 1;
                *ot_err_kinds.entry(kind_of(a)).or_default() += 1;
            }
            (Ok(_), Err(b)) => {
                our_err += 1;
                *our_err_kinds.entry(kind_of(b)).or_default() += 1;
            }
            (Ok(_), Ok(_)) => both_ok += 1,
        }

        let mut line = serde_json::Map::new();
        let mut emit = false;
        match (&ot_res, &our_res) {
            (Ok((t, t_unr, tdiag)), Ok((u, uraw))) => {
                let mut ok4 = true;
                let mut ok2 = true;
                let mut ok_excl4 = true;
                let mut ok4u = true;
                let mut ok_excl4u = true;
                let mut fields = serde_json::Map::new();
                for (f, name) in MONEY_FIELDS.iter().enumerate() {
                    for (k, part) in ["excl_vat", "incl_vat"].iter().enumerate() {
                        let a = u.money[f].part(k == 1);
                        let b = t.money[f].part(k == 1);
                        let s4 = same(a, b, 4);
                        let s2 = same(a, b, 2);
                        // Guard-round away the residue of its inexact divisions (seconds / 3600)
                        // so a true midpoint such as 7.09495 is not seen as 7.0949499…9.
                        let b_unr = t_unr[f]
                            .part(k == 1)
                            .map(|d| d.round_dp_with_strategy(20, RoundingStrategy::MidpointNearestEven));
                        let s4u = same(a, b_unr, 4);
                        agree4u[f][k] += usize::from(s4u);
                        ok4u &= s4u;
                        agree4[f][k] += usize::from(s4);
                        agree2[f][k] += usize::from(s2);
                        ok4 &= s4;
                        ok2 &= s2;
                        if k == 0 {
                            ok_excl4 &= s4;
                            ok_excl4u &= s4u;
                        }
                        if !s4 {
                            let mut hint = Vec::new();
                            if a.is_some() && b.is_some() {
                                if s4u {
                                    hint.push("rounding_only: equal when ocpi-tariffs' unrounded value is rounded half-up");
                                }
                            } else if a.is_none() {
                                hint.push("ours_absent");
                            } else {
                                hint.push("ocpi_tariffs_absent");
                            }
                            fields.insert(
                                format!("{name}.{part}"),
                                json!({
                                    "ours": dec_str(a),
                                    "ocpi_tariffs": dec_str(b),
                                    "ocpi_tariffs_unrounded": dec_str(b_unr),
                                    "ours_minus_ocpi_tariffs": dec_str(a.zip(b).map(|(a, b)| (a - b).round_dp(6))),
                                    "agree_2dp": s2,
                                    "hint": hint,
                                }),
                            );
                        }
                    }
                }
                let mut qty = serde_json::Map::new();
                for (q, name) in QTY_FIELDS.iter().enumerate() {
                    let s = same(u.qty[q], t.qty[q], 4);
                    qty_agree4[q] += usize::from(s);
                    if !s {
                        qty.insert(
                            name.to_string(),
                            json!({"ours": dec_str(u.qty[q]), "ocpi_tariffs": dec_str(t.qty[q])}),
                        );
                    }
                }
                all4 += usize::from(ok4);
                all2 += usize::from(ok2);
                all4u += usize::from(ok4u);
                excl_all4 += usize::from(ok_excl4);
                excl_all4u += usize::from(ok_excl4u);
                if !ok4 {
                    mismatched_cdrs += 1;
                    emit = true;
                    line.insert("kind".into(), json!("mismatch"));
                    line.insert("agree_2dp".into(), json!(ok2));
                    line.insert("fields".into(), Value::Object(fields));
                    if !qty.is_empty() {
                        line.insert("quantities_differ".into(), Value::Object(qty));
                    }
                    line.insert("ocpi_tariffs".into(), tdiag.clone());
                    line.insert("ours".into(), uraw.clone());
                }
            }
            (a, b) => {
                emit = true;
                line.insert(
                    "kind".into(),
                    json!(match (a.is_err(), b.is_err()) {
                        (true, true) => "both_error",
                        (true, false) => "ocpi_tariffs_error",
                        _ => "ours_error",
                    }),
                );
                match a {
                    Err(e) => line.insert("ocpi_tariffs_error".into(), json!(e)),
                    Ok((_, _, d)) => line.insert("ocpi_tariffs".into(), d.clone()),
                };
                match b {
                    Err(e) => line.insert("ours_error".into(), json!(e)),
                    Ok((_, v)) => line.insert("ours".into(), v.clone()),
                };
            }
        }
        if emit {
            if let Some(w) = report.as_mut() {
                let mut full = serde_json::Map::new();
                full.insert("line".into(), json!(c.line_no));
                full.insert("cdr_id".into(), json!(c.id));
                full.insert("tariff_ids".into(), json!(c.tariff_ids));
                full.extend(line);
                if args.report_include_cdr {
                    full.insert(
                        "cdr".into(),
                        serde_json::from_str(&c.json).unwrap_or(Value::Null),
                    );
                }
                serde_json::to_writer(&mut *w, &Value::Object(full)).map_err(|e| e.to_string())?;
                w.write_all(b"\n").map_err(|e| e.to_string())?;
            }
        }
    }
    if let Some(mut w) = report {
        w.flush().map_err(|e| e.to_string())?;
    }

    // ---- summary ----
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let ot_rate = rate(best_ot);
    let our_rate = rate(best_ours);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ocpi-tariffs {} vs rust_core (split {:?}) — {n} CDRs, time zone {}",
        OCPI_TARIFFS_VERSION, opts.split, args.time_zone
    );
    if patched > 0 {
        let _ = writeln!(s, "  ({patched} CDR lines lacked total_cost/total_energy/total_time; ocpi-tariffs got a copy with placeholders)");
    }
    if unknown_tariff_refs > 0 {
        let _ = writeln!(s, "  ({unknown_tariff_refs} period tariff_id references not found in the tariffs file)");
    }
    if !ot.parse_errors.is_empty() {
        let _ = writeln!(s, "  ocpi-tariffs rejected {} tariff(s): {:?}", ot.parse_errors.len(), ot.parse_errors);
    }
    let _ = writeln!(s, "speed (best of {} runs, single thread, parse + price per CDR):", args.runs);
    let _ = writeln!(s, "  ocpi-tariffs : {:>10.0} CDR/s  ({:.3} s)", ot_rate, best_ot.as_secs_f64());
    let _ = writeln!(s, "  rust_core    : {:>10.0} CDR/s  ({:.3} s)", our_rate, best_ours.as_secs_f64());
    let _ = writeln!(s, "  ratio ours/ocpi-tariffs: {:.2}x", our_rate / ot_rate);
    let _ = writeln!(s, "outcomes: both priced {both_ok}; ocpi-tariffs errors {ot_err}; ours errors {our_err}; both errored {both_err}");
    if !ot_err_kinds.is_empty() {
        let _ = writeln!(s, "  ocpi-tariffs error kinds: {ot_err_kinds:?}");
    }
    if !our_err_kinds.is_empty() {
        let _ = writeln!(s, "  our error kinds: {our_err_kinds:?}");
    }
    if !ot_warn_kinds.is_empty() {
        let _ = writeln!(s, "  ocpi-tariffs warnings on priced CDRs: {ot_warn_kinds:?}");
    }
    let _ = writeln!(s, "agreement among the {both_ok} CDRs both priced (half-up rounding of both sides):");
    let _ = writeln!(s, "  {:<28} {:>12} {:>12} {:>16}", "field", "4 decimals", "2 decimals", "4 dec, unrounded*");
    for (f, name) in MONEY_FIELDS.iter().enumerate() {
        for (k, part) in ["excl_vat", "incl_vat"].iter().enumerate() {
            let _ = writeln!(s, "  {:<28} {:>12} {:>12} {:>16}", format!("{name}.{part}"), agree4[f][k], agree2[f][k], agree4u[f][k]);
        }
    }
    let _ = writeln!(s, "  {:<28} {:>12} {:>12} {:>16}", "ALL ten money values", all4, all2, all4u);
    let _ = writeln!(s, "  {:<28} {:>12} {:>12} {:>16}", "all five excl_vat values", excl_all4, "", excl_all4u);
    for (q, name) in QTY_FIELDS.iter().enumerate() {
        let _ = writeln!(s, "  {:<28} {:>12}   (quantity, informational)", name, qty_agree4[q]);
    }
    let _ = writeln!(s, "  * ocpi-tariffs' own unrounded per-period costs summed (guard-rounded at 20 dp), then rounded half-up like ours");
    let _ = writeln!(s, "CDRs with any 4-decimal money difference: {mismatched_cdrs}");
    print!("{s}");

    if let Some(p) = &args.summary_json {
        let mut fields = serde_json::Map::new();
        for (f, name) in MONEY_FIELDS.iter().enumerate() {
            for (k, part) in ["excl_vat", "incl_vat"].iter().enumerate() {
                fields.insert(
                    format!("{name}.{part}"),
                    json!({"agree_4dp": agree4[f][k], "agree_2dp": agree2[f][k], "agree_4dp_ocpi_unrounded": agree4u[f][k]}),
                );
            }
        }
        let v = json!({
            "ocpi_tariffs_version": OCPI_TARIFFS_VERSION,
            "cdrs": n,
            "time_zone": args.time_zone,
            "ours_split": format!("{:?}", opts.split),
            "ours_missing_vat": format!("{:?}", opts.missing_vat),
            "runs": args.runs,
            "seconds": {"ocpi_tariffs": all_ot, "ours": all_ours},
            "cdrs_per_second_best": {"ocpi_tariffs": ot_rate, "ours": our_rate},
            "speed_ratio_ours_over_ocpi_tariffs": our_rate / ot_rate,
            "both_priced": both_ok,
            "ocpi_tariffs_errors": ot_err,
            "ours_errors": our_err,
            "both_errors": both_err,
            "ocpi_tariffs_error_kinds": ot_err_kinds,
            "ours_error_kinds": our_err_kinds,
            "ocpi_tariffs_warning_kinds": ot_warn_kinds,
            "agreement": fields,
            "all_money_agree_4dp": all4,
            "all_money_agree_2dp": all2,
            "all_money_agree_4dp_ocpi_unrounded": all4u,
            "all_excl_vat_agree_4dp": excl_all4,
            "all_excl_vat_agree_4dp_ocpi_unrounded": excl_all4u,
            "quantity_agree_4dp": {"total_energy": qty_agree4[0], "total_time": qty_agree4[1], "total_parking_time": qty_agree4[2]},
            "cdrs_with_4dp_money_difference": mismatched_cdrs,
        });
        std::fs::write(p, serde_json::to_string_pretty(&v).unwrap_or_default())
            .map_err(|e| format!("{p}: {e}"))?;
    }
    Ok(())
}

/// Must match the `=` pin in Cargo.toml.
const OCPI_TARIFFS_VERSION: &str = "0.48.0";
