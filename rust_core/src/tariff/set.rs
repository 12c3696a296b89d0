//! A set of tariffs looked up by id (case-insensitive, as CiString ids are), preferring the
//! tariff of the CDR's own party when several parties use the same id.

use std::collections::HashMap;

use super::Tariff;
use crate::error::InputError;

#[derive(Debug, Clone, Default)]
pub struct TariffSet {
    tariffs: Vec<Tariff>,
    by_id: HashMap<String, Vec<usize>>,
}

impl TariffSet {
    pub fn new(tariffs: Vec<Tariff>) -> Self {
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::with_capacity(tariffs.len());
        for (i, t) in tariffs.iter().enumerate() {
            by_id.entry(t.id.to_ascii_lowercase()).or_default().push(i);
        }
        Self { tariffs, by_id }
    }

    /// Read one tariff object or a JSON array of them, accepting with a warning what other
    /// pricers accept (a dimension OCPI does not define, a bare-number min/max price, a
    /// date-time without zero padding).
    pub fn from_json(json: &[u8]) -> Result<Self, InputError> {
        Self::from_json_with(json, false)
    }

    /// As `from_json`; `strict` refuses what `from_json` reads with a warning.
    pub fn from_json_with(json: &[u8], strict: bool) -> Result<Self, InputError> {
        crate::model::tariff::parse_tariffs(json, strict).map(Self::new)
    }

    pub fn len(&self) -> usize {
        self.tariffs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tariffs.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tariff> {
        self.tariffs.iter()
    }

    pub fn get(&self, index: usize) -> &Tariff {
        &self.tariffs[index]
    }

    /// The index of tariff `id`; among same-id tariffs, the one owned by `country_code`/`party_id`.
    pub fn find(&self, id: &str, country_code: Option<&str>, party_id: Option<&str>) -> Option<usize> {
        // Ids are short (CiString(36)): lowered on the stack, not in a String per lookup.
        let mut buf = [0u8; 64];
        let found = match buf.get_mut(..id.len()) {
            Some(low) => {
                low.copy_from_slice(id.as_bytes());
                low.make_ascii_lowercase();
                // ASCII lowering keeps UTF-8 valid.
                self.by_id.get(std::str::from_utf8(low).ok()?)
            }
            None => self.by_id.get(&id.to_ascii_lowercase()),
        }?;
        let owner_matches = |i: &&usize| {
            let t = &self.tariffs[**i];
            eq_ci(t.country_code.as_deref(), country_code) && eq_ci(t.party_id.as_deref(), party_id)
        };
        found.iter().find(owner_matches).or(found.first()).copied()
    }
}

fn eq_ci(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => true,
    }
}
