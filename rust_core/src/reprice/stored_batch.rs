//! One batch of a re-rating run, from the rows COPY read out of `cdrs` to the rows COPY writes into
//! `reprice_results`, with three crossings from Python and no Python object per CDR:
//!
//! 1. `from_copy`: the rows read (COPY binary format) and each CDR scanned (`Needs`), in parallel; the batch's distinct tariff
//!    keys and Location keys are what the caller looks up.
//! 2. `choose`: given each tariff key's timeline (the `last_updated` of its stored versions), the version
//!    in force at each session's start; the distinct versions chosen are what the caller loads.
//! 3. `price`: each CDR priced with its versions and our Location's time zone, in parallel; out come the
//!    results in COPY's binary format and the batch's counts per party, tariff and currency.

use rayon::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

use super::{Needs, Stored, guarded, needs_of, price_one};
use crate::datetime::{Micros, parse_datetime, parse_datetime_unpadded};
use crate::error::InputError;
use crate::pgcopy::{BinaryWriter, binary_rows};
use crate::pricing::PricingOptions;
use crate::tariff::TariffSet;

/// (country_code, party_id, id), upper-cased as stored keys are.
pub type Key = (String, String, String);

/// Records per rayon task (as in `batch`).
const CHUNK: usize = 64;

/// The columns `price` writes, in order (`reprice_results`).
pub const COLUMNS: [&str; 16] = [
    "run_id", "seq", "country_code", "party_id", "id", "status", "currency", "old_total", "new_total",
    "new_total_incl", "change", "tariff_ids", "tariff_versions", "breakdown", "reason", "engine_version",
];

struct Row {
    seq: i64,
    country_code: String,
    party_id: String,
    id: String,
    doc: Vec<u8>,
    /// What choosing versions needs, or why the CDR cannot be prepared.
    prepared: Result<Prepared, String>,
}

struct Prepared {
    needs: Needs,
    start: Micros,
    /// Per tariff id of `needs`: its key's index in `tariff_keys`.
    keys: Vec<usize>,
    location: usize,
}

pub struct StoredBatch {
    rows: Vec<Row>,
    tariff_keys: Vec<Key>,
    location_keys: Vec<Key>,
    /// Per row, per tariff id: the index in `chosen` of its version (None: no version stored).
    choices: Vec<Vec<Option<usize>>>,
    /// Distinct (tariff key index, position in its timeline) chosen by `choose`.
    chosen: Vec<(usize, usize)>,
}

/// A chosen version as the caller resolved it: its index in the `TariffSet` given to `price` and its
/// entry in the results' `tariff_versions` (a JSON object), or why it cannot be used.
pub type VersionRef = Result<(usize, String), String>;

/// Counts of one (party `CC*PID`, tariff id, currency): priced, changed, sum of changes, sum of |changes|.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    pub priced: u64,
    pub changed: u64,
    pub change: Decimal,
    pub moved: Decimal,
}

#[derive(Debug, Default)]
pub struct BatchStats {
    pub priced: u64,
    pub failed: u64,
    pub changed: u64,
    pub groups: BTreeMap<Key, Group>,
    /// (`CC*PID/id`, reason) of each CDR that could not be priced.
    pub failures: Vec<(String, String)>,
}

enum Outcome {
    Failed(String),
    Priced { new: Option<Decimal>, incl: Option<Decimal>, line: Option<String> },
}

fn upper(s: &str) -> String {
    s.to_uppercase()
}

fn start_of(text: &str) -> Result<Micros, String> {
    parse_datetime(text).or_else(|e| parse_datetime_unpadded(text).ok_or(e)).map_err(|e| format!("start_date_time: {e}"))
}

impl StoredBatch {
    /// The rows of `COPY (SELECT seq, country_code, party_id, id, data ...) TO STDOUT (FORMAT binary)` (whole
    /// rows, with or without the header), each CDR scanned.
    pub fn from_copy(buf: &[u8]) -> Result<Self, String> {
        let fields = binary_rows(buf, 5)?;
        let mut rows: Vec<Row> = fields
            .par_chunks(CHUNK)
            .flat_map_iter(|chunk| chunk.iter().map(row_of))
            .collect::<Result<_, String>>()?;
        let mut tariff_keys = Vec::new();
        let mut location_keys = Vec::new();
        let mut tariff_index: HashMap<Key, usize> = HashMap::new();
        let mut location_index: HashMap<Key, usize> = HashMap::new();
        let index = |map: &mut HashMap<Key, usize>, list: &mut Vec<Key>, key: Key| {
            *map.entry(key).or_insert_with_key(|k| {
                list.push(k.clone());
                list.len() - 1
            })
        };
        for row in &mut rows {
            if let Ok(p) = &mut row.prepared {
                let (cc, pid) = (upper(&p.needs.country_code), upper(&p.needs.party_id));
                p.keys = p.needs.tariff_ids.iter().map(|t| index(&mut tariff_index, &mut tariff_keys, (cc.clone(), pid.clone(), t.clone()))).collect();
                let loc = upper(p.needs.location_id.as_deref().unwrap_or(""));
                p.location = index(&mut location_index, &mut location_keys, (cc, pid, loc));
            }
        }
        Ok(Self { rows, tariff_keys, location_keys, choices: Vec::new(), chosen: Vec::new() })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The distinct (country_code, party_id, tariff id) the batch's CDRs name.
    pub fn tariff_keys(&self) -> &[Key] {
        &self.tariff_keys
    }

    /// The distinct (country_code, party_id, Location id) of the batch's CDRs (`""`: none given).
    pub fn location_keys(&self) -> &[Key] {
        &self.location_keys
    }

    /// Each CDR's version of each tariff it names, from `timelines` (per tariff key, the `last_updated` of
    /// its stored versions, ascending; empty: none stored): the newest with last_updated <= the session's
    /// start, else (every version is newer) the oldest; the same rule as `tariff_history._FIND`.
    /// Returns the distinct (tariff key index, timeline position) chosen.
    pub fn choose(&mut self, timelines: &[Vec<Micros>]) -> Result<&[(usize, usize)], String> {
        if timelines.len() != self.tariff_keys.len() {
            return Err(format!("{} timelines for {} tariff keys", timelines.len(), self.tariff_keys.len()));
        }
        let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
        self.chosen.clear();
        let chosen = &mut self.chosen;
        self.choices = self
            .rows
            .iter()
            .map(|row| match &row.prepared {
                Err(_) => Vec::new(),
                Ok(p) => p
                    .keys
                    .iter()
                    .map(|&k| {
                        let line = &timelines[k];
                        (!line.is_empty()).then(|| {
                            let pos = line.partition_point(|&t| t <= p.start).saturating_sub(1);
                            *seen.entry((k, pos)).or_insert_with(|| {
                                chosen.push((k, pos));
                                chosen.len() - 1
                            })
                        })
                    })
                    .collect(),
            })
            .collect();
        Ok(&self.chosen)
    }

    /// Price every CDR (after `choose`): `refs` resolves each chosen version, `zones` gives each Location
    /// key's time zone (None: we hold no such Location). Returns the `COLUMNS` of every row in COPY's
    /// binary format (header and trailer included) and the batch's counts.
    pub fn price(&self, refs: &[VersionRef], zones: &[Option<String>], versions: &TariffSet, run: i64, engine: &str,
                 breakdown: bool) -> Result<(Vec<u8>, BatchStats), String> {
        if refs.len() != self.chosen.len() || zones.len() != self.location_keys.len() || self.choices.len() != self.rows.len() {
            return Err("price needs choose first, one ref per chosen version and one zone per Location key".into());
        }
        if let Some(Ok((bad, _))) = refs.iter().find(|r| matches!(r, Ok((i, _)) if *i >= versions.len())) {
            return Err(format!("tariff version index {bad} out of range"));
        }
        let opts = PricingOptions { breakdown, ..Default::default() };
        let outcomes: Vec<Outcome> = self
            .rows
            .par_chunks(CHUNK)
            .zip(self.choices.par_chunks(CHUNK))
            .flat_map_iter(|(rows, choices)| {
                rows.iter().zip(choices).map(|(row, choice)| self.outcome(row, choice, refs, zones, versions, &opts))
            })
            .collect();
        Ok(self.write(&outcomes, refs, run, engine))
    }

    fn outcome(&self, row: &Row, choice: &[Option<usize>], refs: &[VersionRef], zones: &[Option<String>], versions: &TariffSet,
               opts: &PricingOptions) -> Outcome {
        let p = match &row.prepared {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("the CDR cannot be prepared: {e}")),
        };
        if p.needs.tariff_ids.is_empty() {
            return Outcome::Failed("the CDR names no tariff (no charging_periods[].tariff_id, no tariffs)".into());
        }
        let missing: Vec<&str> = p.needs.tariff_ids.iter().zip(choice).filter(|(_, c)| c.is_none()).map(|(t, _)| t.as_str()).collect();
        if !missing.is_empty() {
            return Outcome::Failed(format!("we hold no tariff {} of {}*{}", missing.join(", "), upper(&p.needs.country_code), upper(&p.needs.party_id)));
        }
        let mut indexes = Vec::with_capacity(choice.len());
        for c in choice.iter().flatten() {
            match &refs[*c] {
                Ok((i, _)) => indexes.push(*i),
                Err(reason) => return Outcome::Failed(format!("the CDR cannot be priced: {reason}")),
            }
        }
        let job = Stored { doc: &row.doc, versions: indexes, time_zone: zones[p.location].as_deref() };
        match guarded(|| price_one(&job, versions, opts, opts.breakdown)) {
            Ok(r) => Outcome::Priced { new: r.total, incl: r.total_incl, line: r.line },
            Err(e) => Outcome::Failed(format!("the CDR cannot be priced: {e}")),
        }
    }

    fn write(&self, outcomes: &[Outcome], refs: &[VersionRef], run: i64, engine: &str) -> (Vec<u8>, BatchStats) {
        let size: usize = outcomes.iter().map(|o| if let Outcome::Priced { line: Some(l), .. } = o { l.len() + 300 } else { 300 }).sum();
        let mut w = BinaryWriter::new(size);
        let mut stats = BatchStats::default();
        for ((row, outcome), choice) in self.rows.iter().zip(outcomes).zip(&self.choices) {
            w.row(COLUMNS.len() as i16);
            w.int8(run);
            w.int8(row.seq);
            w.text(&row.country_code);
            w.text(&row.party_id);
            w.text(&row.id);
            let party = format!("{}*{}", row.country_code, row.party_id);
            match (outcome, &row.prepared) {
                (Outcome::Priced { new, incl, line }, Ok(p)) => {
                    let currency = p.needs.currency.as_deref().filter(|c| !c.is_empty());
                    let change = new.zip(p.needs.old_total).map(|(n, o)| n - o);
                    w.text("PRICED");
                    w.opt_text(currency);
                    w.opt_numeric(p.needs.old_total);
                    w.opt_numeric(*new);
                    w.opt_numeric(*incl);
                    w.opt_numeric(change);
                    let ids: Vec<&str> = p.needs.tariff_ids.iter().map(String::as_str).collect();
                    w.text_array(&ids);
                    let entries: Vec<&str> = choice.iter().flatten().filter_map(|&c| refs[c].as_ref().ok()).map(|(_, e)| e.as_str()).collect();
                    w.text(&format!("[{}]", entries.join(",")));
                    w.opt_text(line.as_deref());
                    w.null();
                    stats.add_priced(&party, &ids, currency.unwrap_or(""), change);
                }
                (outcome, _) => {
                    let reason = match outcome {
                        Outcome::Failed(r) => r.as_str(),
                        Outcome::Priced { .. } => "the CDR cannot be priced",
                    };
                    w.text("FAILED");
                    for _ in 0..5 {
                        w.null();
                    }
                    w.text_array(&[]);
                    w.null();
                    w.null();
                    w.text(reason);
                    stats.failed += 1;
                    stats.failures.push((format!("{party}/{}", row.id), reason.to_string()));
                }
            }
            w.text(engine);
        }
        (w.finish(), stats)
    }
}

impl BatchStats {
    fn add_priced(&mut self, party: &str, tariffs: &[&str], currency: &str, change: Option<Decimal>) {
        self.priced += 1;
        let changed = change.is_some_and(|c| !c.is_zero());
        self.changed += u64::from(changed);
        let none = ["-"];
        for t in if tariffs.is_empty() { &none[..] } else { tariffs } {
            let g = self.groups.entry((party.to_string(), t.to_string(), currency.to_string())).or_default();
            g.priced += 1;
            if let (true, Some(c)) = (changed, change) {
                g.changed += 1;
                g.change += c;
                g.moved += c.abs();
            }
        }
    }
}

fn text(field: Option<&[u8]>, name: &str) -> Result<String, String> {
    let bytes = field.ok_or_else(|| format!("COPY row has no {name}"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("COPY row's {name} is not UTF-8"))
}

fn row_of(fields: &Vec<Option<&[u8]>>) -> Result<Row, String> {
    let seq = fields[0].and_then(|b| <[u8; 8]>::try_from(b).ok()).map(i64::from_be_bytes).ok_or("COPY row's seq is not a bigint")?;
    let doc = fields[4].unwrap_or(b"null").to_vec();
    let prepared = needs_of(&doc)
        .map_err(|e: InputError| e.to_string())
        .and_then(|needs| Ok(Prepared { start: start_of(&needs.start)?, needs, keys: Vec::new(), location: 0 }));
    Ok(Row { seq, country_code: text(fields[1], "country_code")?, party_id: text(fields[2], "party_id")?, id: text(fields[3], "id")?, doc, prepared })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reprice::tests::{CDR, TARIFF};

    fn copy_rows(rows: &[(i64, &str)]) -> Vec<u8> {
        let mut w = BinaryWriter::new(0);
        for (seq, doc) in rows {
            w.row(5);
            w.int8(*seq);
            w.text("NL");
            w.text("EXA");
            w.text(&format!("C{seq}"));
            w.text(doc);
        }
        w.finish()
    }

    #[test]
    fn a_batch_from_copy_rows_to_copy_rows() {
        let later = CDR.replace("2025-06-02", "2025-08-02");
        let unknown = CDR.replace("\"t1\"", "\"t9\"").replace("\"T1\"", "\"T9\"");
        let buf = copy_rows(&[(1, CDR), (2, &later), (3, "{\"x\":1}"), (4, &unknown)]);
        let mut batch = StoredBatch::from_copy(&buf).unwrap();
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.tariff_keys(), &[("NL".into(), "EXA".into(), "T1".into()), ("NL".into(), "EXA".into(), "T9".into())]);
        assert_eq!(batch.location_keys(), &[("NL".into(), "EXA".into(), "L1".into())]);
        // T1 has versions of 2025-01-01 and 2025-07-01; T9 none.
        let jan = parse_datetime("2025-01-01T00:00:00Z").unwrap();
        let jul = parse_datetime("2025-07-01T00:00:00Z").unwrap();
        let chosen = batch.choose(&[vec![jan, jul], vec![]]).unwrap().to_vec();
        assert_eq!(chosen, vec![(0, 0), (0, 1)], "June's session gets January's version, August's July's");
        let doubled = TARIFF.replace("\"price\":0.5", "\"price\":1");
        let set = TariffSet::from_json(format!("[{TARIFF},{doubled}]").as_bytes()).unwrap();
        let refs: Vec<VersionRef> = vec![Ok((0, r#"{"id":"T1","v":1}"#.into())), Ok((1, r#"{"id":"T1","v":2}"#.into()))];
        let (payload, stats) = batch.price(&refs, &[Some("Europe/Amsterdam".into())], &set, 7, "e1", true).unwrap();
        assert!(payload.starts_with(b"PGCOPY\n"));
        assert_eq!((stats.priced, stats.failed, stats.changed), (2, 2, 2));
        let g = &stats.groups[&("NL*EXA".to_string(), "T1".to_string(), "EUR".to_string())];
        // 6 kWh at 0.5 = 3 (was 3.5) and at 1 = 6 (was 3.5).
        assert_eq!((g.priced, g.changed, g.change, g.moved), (2, 2, Decimal::from(2), Decimal::from(3)));
        assert!(stats.failures[0].1.starts_with("the CDR cannot be prepared: "), "{:?}", stats.failures);
        assert_eq!(stats.failures[1], ("NL*EXA/C4".into(), "we hold no tariff T9 of NL*EXA".into()));
        let text = String::from_utf8_lossy(&payload);
        assert!(text.contains(r#"[{"id":"T1","v":2}]"#) && text.contains("\"periods\":["), "{text}");
    }

    #[test]
    fn choosing_needs_one_timeline_per_key_and_price_needs_choose() {
        let mut batch = StoredBatch::from_copy(&copy_rows(&[(1, CDR)])).unwrap();
        let set = TariffSet::from_json(b"[]").unwrap();
        assert!(batch.price(&[], &[None], &set, 1, "e", false).is_err());
        assert!(batch.choose(&[]).is_err());
        let mut short = BinaryWriter::new(0);
        short.row(2);
        short.int8(1);
        short.text("NL");
        assert!(StoredBatch::from_copy(&short.finish()).is_err());
    }
}
