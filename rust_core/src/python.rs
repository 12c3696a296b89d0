//! The Python module `rust_core._native`: converts at the edge, releases the GIL for the work.

use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::batch::{self, BatchOutput};
use crate::error::InputError;
use crate::model::{TariffType, Version};
use crate::money::{Rounding, RoundingMode};
use crate::pricing::{MissingVat, PricingOptions, SplitMode, output};
use crate::tariff::TariffSet;

create_exception!(_native, PricingError, PyValueError, "A CDR or tariff that cannot be priced; `.field` is the JSON path at fault.");

fn pricing_error(py: Python<'_>, e: &InputError, context: &str) -> PyErr {
    let text = if context.is_empty() { e.to_string() } else { format!("{context}: {e}") };
    let err = PricingError::new_err(text);
    let value = err.value(py);
    let _ = value.setattr("field", e.field.as_str());
    let _ = value.setattr("reason", e.message.as_str());
    err
}

/// Borrow text or bytes as bytes (no copy).
fn as_bytes<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<&'a [u8]> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(b.as_bytes())
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(s.to_str()?.as_bytes())
    } else {
        Err(PyTypeError::new_err(format!("{what} must be bytes or str, not {}", obj.get_type().name()?)))
    }
}

/// A compiled set of tariffs, reused across calls.
#[pyclass(name = "TariffSet", module = "rust_core._native", frozen)]
struct PyTariffSet {
    inner: TariffSet,
}

#[pymethods]
impl PyTariffSet {
    /// Read one tariff object or a JSON array of tariffs (OCPI 2.1.1, 2.2.1 or 2.3.0); `strict`
    /// refuses what is otherwise read with a warning.
    #[new]
    #[pyo3(signature = (json, *, strict=false))]
    fn new(py: Python<'_>, json: &Bound<'_, PyAny>, strict: bool) -> PyResult<Self> {
        let buf = as_bytes(json, "json")?;
        let parsed = py.detach(|| TariffSet::from_json_with(buf, strict));
        parsed.map(|inner| Self { inner }).map_err(|e| pricing_error(py, &e, "tariffs"))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Tariff ids, in input order.
    #[getter]
    fn ids(&self) -> Vec<String> {
        self.inner.iter().map(|t| t.id.clone()).collect()
    }

    /// Non-fatal remarks per tariff: (tariff id, message).
    #[getter]
    fn warnings(&self) -> Vec<(String, String)> {
        self.inner.iter().flat_map(|t| t.warnings.iter().map(move |w| (t.id.clone(), w.clone()))).collect()
    }

    fn __repr__(&self) -> String {
        format!("TariffSet({} tariffs)", self.inner.len())
    }
}

/// Results of a batch.
#[pyclass(name = "BatchResult", module = "rust_core._native", frozen)]
struct PyBatchResult {
    #[pyo3(get)]
    records: usize,
    #[pyo3(get)]
    priced: usize,
    output: Vec<u8>,
    errors: Vec<batch::BatchError>,
}

#[pymethods]
impl PyBatchResult {
    /// Priced results as JSON Lines, in input order (bad records left out).
    #[getter]
    fn output<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.output)
    }

    /// Bad records: (line, index, id or None, field, message).
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<Bound<'py, PyTuple>> = self
            .errors
            .iter()
            .map(|e| (e.line, e.index, e.id.clone(), e.error.field.clone(), e.error.message.clone()).into_pyobject(py))
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }

    /// Bad records as JSON Lines: {"error", "field", "line", "id"}.
    fn errors_jsonl<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, batch::errors_jsonl(&self.errors).as_bytes())
    }

    fn __repr__(&self) -> String {
        format!("BatchResult(records={}, priced={}, errors={})", self.records, self.priced, self.errors.len())
    }
}

#[allow(clippy::too_many_arguments)]
fn make_options(
    time_zone: Option<&str>,
    split: &str,
    decimals: u32,
    rounding: &str,
    tariff_type: Option<&str>,
    breakdown: bool,
    version: Option<&str>,
    strict: bool,
    missing_vat: &str,
) -> PyResult<PricingOptions> {
    let time_zone = time_zone
        .map(|name| crate::pricing::parse_tz(name).ok_or_else(|| PyValueError::new_err(format!("unknown IANA time zone {name:?}"))))
        .transpose()?;
    let split = match split {
        "boundaries" => SplitMode::AtBoundaries,
        "period_start" => SplitMode::PeriodStart,
        other => return Err(PyValueError::new_err(format!("split must be 'boundaries' or 'period_start', not {other:?}"))),
    };
    if decimals > 12 {
        return Err(PyValueError::new_err(format!("decimals must be 0 to 12, not {decimals}")));
    }
    let mode = RoundingMode::parse(rounding)
        .ok_or_else(|| PyValueError::new_err(format!("rounding must be 'half_up', 'half_even', 'down' or 'up', not {rounding:?}")))?;
    let tariff_type = tariff_type
        .map(|t| TariffType::parse(t).ok_or_else(|| PyValueError::new_err(format!("unknown tariff_type {t:?}"))))
        .transpose()?;
    let version = version
        .map(|v| Version::parse(v).ok_or_else(|| PyValueError::new_err(format!("version must be '2.1.1', '2.2.1' or '2.3.0', not {v:?}"))))
        .transpose()?;
    let missing_vat = match missing_vat {
        "no_vat" => MissingVat::NoVat,
        "unknown" => MissingVat::Unknown,
        other => return Err(PyValueError::new_err(format!("missing_vat must be 'no_vat' or 'unknown', not {other:?}"))),
    };
    Ok(PricingOptions { time_zone, split, rounding: Rounding { decimals, mode }, tariff_type, breakdown, version, strict, missing_vat })
}

/// The `tariffs` argument: a compiled `TariffSet` (shared, not copied) or JSON compiled now.
enum TariffArg<'a> {
    None,
    Shared(&'a PyTariffSet),
    Owned(TariffSet),
}

impl TariffArg<'_> {
    fn set(&self) -> Option<&TariffSet> {
        match self {
            Self::None => None,
            Self::Shared(s) => Some(&s.inner),
            Self::Owned(s) => Some(s),
        }
    }
}

fn tariff_arg<'a>(py: Python<'_>, tariffs: Option<&'a Bound<'_, PyAny>>, strict: bool) -> PyResult<TariffArg<'a>> {
    match tariffs {
        None => Ok(TariffArg::None),
        Some(t) if t.is_none() => Ok(TariffArg::None),
        Some(t) => match t.cast::<PyTariffSet>() {
            Ok(shared) => Ok(TariffArg::Shared(shared.get())),
            Err(_) => {
                let buf = as_bytes(t, "tariffs")?;
                py.detach(|| TariffSet::from_json_with(buf, strict)).map(TariffArg::Owned).map_err(|e| pricing_error(py, &e, "tariffs"))
            }
        },
    }
}

/// Price one CDR; returns the result as JSON bytes. Raises PricingError for bad input.
#[pyfunction]
#[pyo3(signature = (cdr, tariffs=None, *, time_zone=None, split="boundaries", decimals=4, rounding="half_up", tariff_type=None, breakdown=true, version=None, strict=false, missing_vat="no_vat"))]
#[allow(clippy::too_many_arguments)]
fn price_cdr<'py>(
    py: Python<'py>,
    cdr: &Bound<'py, PyAny>,
    tariffs: Option<&Bound<'py, PyAny>>,
    time_zone: Option<&str>,
    split: &str,
    decimals: u32,
    rounding: &str,
    tariff_type: Option<&str>,
    breakdown: bool,
    version: Option<&str>,
    strict: bool,
    missing_vat: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let opts = make_options(time_zone, split, decimals, rounding, tariff_type, breakdown, version, strict, missing_vat)?;
    let arg = tariff_arg(py, tariffs, strict)?;
    let set = arg.set();
    let buf = as_bytes(cdr, "cdr")?;
    let result = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| crate::price_cdr_json(buf, set, &opts)))
            .unwrap_or_else(|_| Err(InputError::new("", "internal error while pricing this CDR")))
    });
    match result {
        Ok(json) => Ok(PyBytes::new(py, &json)),
        Err(e) => Err(pricing_error(py, &e, "")),
    }
}

/// Price many CDRs in one call, in parallel, with the GIL released. `cdrs` is a JSON Lines
/// buffer (bytes/str) or a list of JSON documents. Bad records are reported, never raised.
#[pyfunction]
#[pyo3(signature = (cdrs, tariffs=None, *, first_line=1, time_zone=None, split="boundaries", decimals=4, rounding="half_up", tariff_type=None, breakdown=false, version=None, strict=false, missing_vat="no_vat"))]
#[allow(clippy::too_many_arguments)]
fn price_batch<'py>(
    py: Python<'py>,
    cdrs: &Bound<'py, PyAny>,
    tariffs: Option<&Bound<'py, PyAny>>,
    first_line: usize,
    time_zone: Option<&str>,
    split: &str,
    decimals: u32,
    rounding: &str,
    tariff_type: Option<&str>,
    breakdown: bool,
    version: Option<&str>,
    strict: bool,
    missing_vat: &str,
) -> PyResult<PyBatchResult> {
    let opts = make_options(time_zone, split, decimals, rounding, tariff_type, breakdown, version, strict, missing_vat)?;
    let arg = tariff_arg(py, tariffs, strict)?;
    let set = arg.set();
    let out: BatchOutput = if let Ok(list) = cdrs.cast::<PyList>() {
        let items: Vec<Bound<'py, PyAny>> = list.iter().collect();
        let docs: Vec<&[u8]> = items.iter().map(|d| as_bytes(d, "each CDR")).collect::<PyResult<_>>()?;
        py.detach(|| batch::price_documents(&docs, set, &opts))
    } else {
        let buf = as_bytes(cdrs, "cdrs")?;
        py.detach(|| batch::price_jsonl(buf, first_line, set, &opts))
    };
    Ok(PyBatchResult { records: out.records, priced: out.priced(), output: out.output, errors: out.errors })
}

/// Parse-only baseline for benchmarks: validate every JSON line, in parallel, GIL released.
/// Returns (records, invalid records).
#[pyfunction]
fn parse_only(py: Python<'_>, buf: &Bound<'_, PyAny>) -> PyResult<(usize, usize)> {
    let b = as_bytes(buf, "buf")?;
    Ok(py.detach(|| batch::parse_only_jsonl(b)))
}

/// Check JSON text (bytes, str or another bytes-like object) in one pass (`json_guard::check`), GIL released: None when fine, else `(kind, detail)` with
/// kind "duplicate_key" (detail: the key), "number" (the number's text), "depth" or "syntax" (a message).
#[pyfunction]
fn json_guard(py: Python<'_>, buf: &Bound<'_, PyAny>, max_depth: usize, max_decimals: u32) -> PyResult<Option<(&'static str, String)>> {
    use crate::json_guard::{GuardError, check};
    let owned: Vec<u8>;
    let b = match as_bytes(buf, "buf") {
        Ok(b) => b,
        Err(e) => match pyo3::buffer::PyBuffer::<u8>::get(buf) {
            // another bytes-like object (bytearray, memoryview): copied, as it could change while the GIL is released
            Ok(view) => {
                owned = view.to_vec(py)?;
                &owned
            }
            Err(_) => return Err(e),
        },
    };
    let result = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| check(b, max_depth, max_decimals)))
            .unwrap_or_else(|_| Err(GuardError::Syntax("internal error while checking the JSON".into())))
    });
    Ok(match result {
        Ok(()) => None,
        Err(GuardError::DuplicateKey(key)) => Some(("duplicate_key", key)),
        Err(GuardError::NumberOutOfRange(text)) => Some(("number", text)),
        Err(GuardError::TooDeep) => Some(("depth", format!("JSON nested deeper than {max_depth} levels"))),
        Err(GuardError::Syntax(message)) => Some(("syntax", message)),
    })
}

/// Write an error record as JSON (the shape batch error files use).
#[pyfunction]
#[pyo3(signature = (message, field="", line=None, id=None))]
fn error_json(message: &str, field: &str, line: Option<usize>, id: Option<&str>) -> String {
    let mut s = String::new();
    output::write_error(&mut s, line, id, &InputError::new(field, message));
    s
}

// ---- Session engine (rust_core/src/session): EventBatch, SessionEngine, ApplyResult ----

mod session_bindings {
    use super::*;
    use crate::session::event::{ParsedBatch, parse_batch};
    use crate::session::{ApplyResult, EngineOptions, SessionEngine};
    use pyo3::types::PyDict;
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    /// Charging events read and validated in one pass (GIL released).
    #[pyclass(name = "EventBatch", module = "rust_core._native", frozen)]
    pub struct PyEventBatch {
        pub inner: Arc<ParsedBatch>,
    }

    #[pymethods]
    impl PyEventBatch {
        #[new]
        fn new(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
            let buf = as_bytes(data, "data")?;
            let inner = py.detach(|| parse_batch(buf));
            Ok(Self { inner: Arc::new(inner) })
        }

        fn __len__(&self) -> usize {
            self.inner.records
        }

        /// Valid events: (index, event_id, session_id, type, time in UTC).
        #[getter]
        fn events(&self) -> Vec<(usize, String, String, &'static str, String)> {
            self.inner.events.iter().map(|e| (e.index, e.event_id.clone(), e.session_id.clone(), e.kind.as_str(), e.time_text())).collect()
        }

        /// The fields of each valid `session_started`, by index.
        #[getter]
        fn starts<'py>(&self, py: Python<'py>) -> PyResult<Vec<(usize, Bound<'py, PyDict>)>> {
            let mut out = Vec::new();
            for e in &self.inner.events {
                if let Some(start) = &e.start {
                    let d = PyDict::new(py);
                    for (k, v) in &start.fields {
                        d.set_item(*k, v)?;
                    }
                    out.push((e.index, d));
                }
            }
            Ok(out)
        }

        /// Invalid records: (index, event_id or None, field, message).
        #[getter]
        fn errors(&self) -> Vec<(usize, Option<String>, String, String)> {
            self.inner.errors.iter().map(|e| (e.index, e.event_id.clone(), e.error.field.clone(), e.error.message.clone())).collect()
        }

        /// Normal-form JSON of each valid event, aligned with `events`.
        fn records<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
            self.inner.normal.iter().map(|n| PyBytes::new(py, n.as_bytes())).collect()
        }

        fn __repr__(&self) -> String {
            format!("EventBatch(records={}, valid={}, errors={})", self.inner.records, self.inner.events.len(), self.inner.errors.len())
        }
    }

    /// The live state of charging sessions, priced as they run.
    #[pyclass(name = "SessionEngine", module = "rust_core._native")]
    pub struct PySessionEngine {
        inner: SessionEngine,
    }

    type SessionRow<'py> = (String, &'static str, Bound<'py, PyBytes>, usize, String, Option<String>, Option<String>, String, bool);

    #[pyclass(name = "ApplyResult", module = "rust_core._native", frozen)]
    pub struct PyApplyResult {
        inner: ApplyResult,
    }

    #[pymethods]
    impl PyApplyResult {
        /// Events refused by the engine: (index, field, message).
        #[getter]
        fn errors(&self) -> Vec<(usize, String, String)> {
            self.inner.errors.clone()
        }

        #[getter]
        fn accepted(&self) -> Vec<usize> {
            self.inner.accepted.clone()
        }

        /// Every session the batch changed, once: (session_id, status, Session JSON,
        /// closed_periods, kwh, cost_excl, cost_incl, last_event_time, status_changed).
        #[getter]
        fn sessions<'py>(&self, py: Python<'py>) -> Vec<SessionRow<'py>> {
            self.inner
                .sessions
                .iter()
                .map(|u| {
                    (
                        u.session_id.clone(),
                        u.status,
                        PyBytes::new(py, u.json.as_bytes()),
                        u.closed_periods,
                        u.kwh.clone(),
                        u.cost_excl.clone(),
                        u.cost_incl.clone(),
                        u.last_event_time.clone(),
                        u.status_changed,
                    )
                })
                .collect()
        }

        /// (session_id, CDR JSON, breakdown JSON) for every session stopped in the batch.
        #[getter]
        fn cdrs<'py>(&self, py: Python<'py>) -> Vec<(String, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
            self.inner.cdrs.iter().map(|(id, cdr, b)| (id.clone(), PyBytes::new(py, cdr.as_bytes()), PyBytes::new(py, b.as_bytes()))).collect()
        }

        fn __repr__(&self) -> String {
            format!(
                "ApplyResult(accepted={}, errors={}, sessions={}, cdrs={})",
                self.inner.accepted.len(),
                self.inner.errors.len(),
                self.inner.sessions.len(),
                self.inner.cdrs.len()
            )
        }
    }

    #[pymethods]
    impl PySessionEngine {
        #[new]
        #[pyo3(signature = (*, reorder_window=900, decimals=4, rounding="half_up", missing_vat="no_vat"))]
        fn new(reorder_window: i64, decimals: u32, rounding: &str, missing_vat: &str) -> PyResult<Self> {
            if reorder_window < 0 {
                return Err(PyValueError::new_err(format!("reorder_window must be 0 or more, not {reorder_window}")));
            }
            let o = make_options(None, "boundaries", decimals, rounding, None, false, None, false, missing_vat)?;
            let opts = EngineOptions { reorder_window, rounding: o.rounding, missing_vat: o.missing_vat };
            Ok(Self { inner: SessionEngine::new(opts) })
        }

        fn __len__(&self) -> usize {
            self.inner.len()
        }

        #[pyo3(signature = (batch, *, headers=None, skip=None, now=None))]
        fn apply(
            &mut self,
            py: Python<'_>,
            batch: &PyEventBatch,
            headers: Option<HashMap<String, Vec<u8>>>,
            skip: Option<HashSet<usize>>,
            now: Option<&str>,
        ) -> PyResult<PyApplyResult> {
            let now = match now {
                Some(text) => crate::datetime::parse_datetime(text).map_err(PyValueError::new_err)?,
                None => std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| (d.as_micros() as i64) / 1_000_000 * 1_000_000)
                    .unwrap_or(0),
            };
            let headers = headers.unwrap_or_default();
            let skip = skip.unwrap_or_default();
            let parsed = batch.inner.clone();
            let engine = &mut self.inner;
            let inner = py.detach(|| engine.apply(&parsed, &headers, &skip, now));
            Ok(PyApplyResult { inner })
        }

        /// Forget sessions (e.g. to reload them after a failed commit).
        fn drop(&mut self, session_ids: Vec<String>) {
            self.inner.drop_sessions(&session_ids);
        }

        fn session_ids(&self) -> Vec<String> {
            self.inner.session_ids()
        }

        fn __repr__(&self) -> String {
            format!("SessionEngine({} active sessions)", self.inner.len())
        }
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<PyEventBatch>()?;
        m.add_class::<PySessionEngine>()?;
        m.add_class::<PyApplyResult>()?;
        Ok(())
    }
}

// ---- end of the session engine section ----
// ---------------------------------------------------------------------------------------------
// Monitor: the operators' live view (rust_core/src/status/). Rows are copied out of Python at
// the call, then checked, applied and written with the GIL released; a mutex serialises callers
// from several threads (taken with the GIL released, so a waiting caller never holds it).
// ---------------------------------------------------------------------------------------------

use pyo3::pybacked::PyBackedStr;

/// (session_id, country_code, party_id, location_id, evse_uid, connector_id, status, kwh,
/// cost_excl, cost_incl, currency, started_at)
/// Borrowed, not copied: the rows are read in place with the GIL released.
type MonitorSessionRow = (PyBackedStr, PyBackedStr, PyBackedStr, PyBackedStr, PyBackedStr, PyBackedStr, PyBackedStr, PyBackedStr, Option<PyBackedStr>, Option<PyBackedStr>, PyBackedStr, PyBackedStr);

#[pyclass(name = "Monitor", module = "rust_core._native", frozen)]
struct PyMonitor {
    inner: std::sync::Mutex<crate::status::Monitor>,
}

impl PyMonitor {
    fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut crate::status::Monitor) -> R + Send) -> R {
        py.detach(|| {
            // A panic cannot leave a half-applied call: rows are checked before any is applied.
            let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
    }
}

fn monitor_error(e: InputError) -> PyErr {
    PyValueError::new_err(e.within("rows").to_string())
}

#[pymethods]
impl PyMonitor {
    #[new]
    fn new() -> Self {
        Self { inner: std::sync::Mutex::new(crate::status::Monitor::new()) }
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.with(py, |m| m.len())
    }

    fn upsert_sessions(&self, py: Python<'_>, rows: Vec<MonitorSessionRow>) -> PyResult<()> {
        let rows: Vec<crate::status::SessionRow<'_>> = rows
            .iter()
            .map(|r| crate::status::SessionRow {
                session_id: &r.0,
                country_code: &r.1,
                party_id: &r.2,
                location_id: &r.3,
                evse_uid: &r.4,
                connector_id: &r.5,
                status: &r.6,
                kwh: &r.7,
                cost_excl: r.8.as_deref(),
                cost_incl: r.9.as_deref(),
                currency: &r.10,
                started_at: &r.11,
            })
            .collect();
        self.with(py, |m| m.upsert_sessions(&rows)).map_err(monitor_error)
    }

    fn set_evse_status(&self, py: Python<'_>, rows: Vec<(String, String, String, String, String)>) -> PyResult<()> {
        let rows: Vec<crate::status::EvseStatusRow> = rows
            .into_iter()
            .map(|r| crate::status::EvseStatusRow { country_code: r.0, party_id: r.1, location_id: r.2, evse_uid: r.3, status: r.4 })
            .collect();
        self.with(py, |m| m.set_evse_status(rows)).map_err(monitor_error)
    }

    #[pyo3(signature = (country_code=None, party_id=None, offset=0, limit=100, *, active_only=false))]
    fn locations<'py>(&self, py: Python<'py>, country_code: Option<&str>, party_id: Option<&str>, offset: usize, limit: usize, active_only: bool) -> Bound<'py, PyBytes> {
        let json = self.with(py, |m| m.locations_json(country_code, party_id, active_only, offset, limit));
        PyBytes::new(py, json.as_bytes())
    }

    fn location<'py>(&self, py: Python<'py>, country_code: &str, party_id: &str, location_id: &str) -> Option<Bound<'py, PyBytes>> {
        let json = self.with(py, |m| m.location_json(country_code, party_id, location_id));
        json.map(|j| PyBytes::new(py, j.as_bytes()))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let (sessions, locations) = self.with(py, |m| (m.len(), m.location_count()));
        format!("Monitor({sessions} active sessions, {locations} locations)")
    }
}

fn add_monitor(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMonitor>()
}

// ---------------------------------------------------------------------------------------------
// end of Monitor
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Courier: the delivery send loop (rust_core/src/courier/). A batch crosses in once (`submit`,
// copied out of Python, returns at once) and its answers cross out in batches (`completed`, which
// waits with the GIL released).
// ---------------------------------------------------------------------------------------------

mod courier_bindings {
    use pyo3::exceptions::{PyRuntimeError, PyValueError};
    use pyo3::prelude::*;
    use pyo3::pybacked::PyBackedBytes;
    use pyo3::types::PyBytes;
    use std::time::Duration;

    use crate::courier::{Courier, CourierError, Options, Request};

    /// (id, method, url, headers, body)
    type Submitted = (u64, String, String, Vec<(String, String)>, Option<PyBackedBytes>);
    /// (id, http status or None, body, response headers, elapsed ms, error or None)
    type Done<'py> = (u64, Option<u16>, Bound<'py, PyBytes>, Vec<(String, String)>, f64, Option<String>);

    fn courier_error(e: CourierError) -> PyErr {
        match e {
            CourierError::Options(_) => PyValueError::new_err(e.to_string()),
            CourierError::Closed | CourierError::Start(_) => PyRuntimeError::new_err(e.to_string()),
        }
    }

    fn duration(seconds: f64, what: &str) -> PyResult<Duration> {
        Duration::try_from_secs_f64(seconds).map_err(|_| PyValueError::new_err(format!("{what} must be a finite number of seconds >= 0")))
    }

    #[pyclass(name = "Courier", module = "rust_core._native", frozen)]
    struct PyCourier {
        inner: Courier,
    }

    #[pymethods]
    impl PyCourier {
        #[new]
        #[pyo3(signature = (max_connections_per_host, timeout_s, *, worker_threads=1))]
        fn new(max_connections_per_host: usize, timeout_s: f64, worker_threads: usize) -> PyResult<Self> {
            let mut opts = Options::new(max_connections_per_host, duration(timeout_s, "timeout_s")?);
            opts.worker_threads = worker_threads;
            Ok(Self { inner: Courier::new(opts).map_err(courier_error)? })
        }

        fn submit(&self, batch: Vec<Submitted>) -> PyResult<()> {
            let requests = batch
                .into_iter()
                .map(|(id, method, url, headers, body)| Request { id, method, url, headers, body: body.map(|b| b.to_vec()) })
                .collect();
            self.inner.submit(requests).map_err(courier_error)
        }

        fn completed<'py>(&self, py: Python<'py>, max_items: usize, wait_s: f64) -> PyResult<Vec<Done<'py>>> {
            let wait = duration(wait_s, "wait_s")?;
            let done = py.detach(|| self.inner.completed(max_items, wait));
            Ok(done.into_iter().map(|c| (c.id, c.status, PyBytes::new(py, &c.body), c.headers, c.elapsed_ms, c.error)).collect())
        }

        fn close(&self, py: Python<'_>) {
            py.detach(|| self.inner.close());
        }

        #[getter]
        fn closed(&self) -> bool {
            self.inner.is_closed()
        }

        fn __repr__(&self) -> String {
            format!("Courier(closed={})", self.inner.is_closed())
        }
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<PyCourier>()
    }
}

// ---------------------------------------------------------------------------------------------
// end of Courier
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Re-rating stored CDRs (rust_core/src/reprice/stored_batch.rs): a batch goes from the bytes COPY read
// out of `cdrs` to the bytes COPY writes into `reprice_results` (binary format both ways) in three crossings, the GIL released for
// each, rayon across cores, no Python object per CDR.
// ---------------------------------------------------------------------------------------------

mod reprice_bindings {
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::PyBytes;

    use super::{PyTariffSet, as_bytes};
    use crate::reprice::stored_batch::{Key, StoredBatch, VersionRef};

    /// (party CC*PID, tariff id, currency, priced, changed, sum of changes, sum of |changes|)
    type Group = (String, String, String, u64, u64, String, String);
    /// (priced, failed, changed, groups, failures (CC*PID/id, reason))
    type Stats = (u64, u64, u64, Vec<Group>, Vec<(String, String)>);

    #[pyclass(name = "StoredBatch", module = "rust_core._native")]
    pub struct PyStoredBatch {
        inner: StoredBatch,
    }

    #[pymethods]
    impl PyStoredBatch {
        /// Rows of `COPY (SELECT seq, country_code, party_id, id, data ...) TO STDOUT (FORMAT binary)` (whole
        /// rows, with or without the header), each CDR scanned for what choosing its tariff versions needs.
        #[new]
        fn new(py: Python<'_>, copy: &Bound<'_, PyAny>) -> PyResult<Self> {
            let buf = as_bytes(copy, "copy")?;
            py.detach(|| StoredBatch::from_copy(buf)).map(|inner| Self { inner }).map_err(PyValueError::new_err)
        }

        fn __len__(&self) -> usize {
            self.inner.len()
        }

        /// The distinct (country_code, party_id, tariff id) the CDRs name, upper-cased.
        #[getter]
        fn tariff_keys(&self) -> Vec<Key> {
            self.inner.tariff_keys().to_vec()
        }

        /// The distinct (country_code, party_id, Location id) of the CDRs, upper-cased ("": none given).
        #[getter]
        fn location_keys(&self) -> Vec<Key> {
            self.inner.location_keys().to_vec()
        }

        /// Given each tariff key's timeline (the last_updated of its stored versions as µs since the epoch,
        /// ascending; empty: none stored), the version in force at each session's start; returns the distinct
        /// (tariff key index, timeline position) chosen.
        fn choose(&mut self, py: Python<'_>, timelines: Vec<Vec<i64>>) -> PyResult<Vec<(usize, usize)>> {
            let inner = &mut self.inner;
            py.detach(|| inner.choose(&timelines).map(<[_]>::to_vec)).map_err(PyValueError::new_err)
        }

        /// Price every CDR: `refs` per chosen version, (index in `tariffs`, its `tariff_versions` JSON entry) or
        /// why it cannot be used; `zones` per Location key. Returns (the results' rows in COPY binary format,
        /// the batch's stats).
        #[pyo3(signature = (refs, zones, tariffs, *, run_id, engine, breakdown=true))]
        fn price<'py>(
            &self,
            py: Python<'py>,
            refs: Vec<Bound<'py, PyAny>>,
            zones: Vec<Option<String>>,
            tariffs: &Bound<'py, PyTariffSet>,
            run_id: i64,
            engine: String,
            breakdown: bool,
        ) -> PyResult<(Bound<'py, PyBytes>, Stats)> {
            let refs: Vec<VersionRef> = refs
                .iter()
                .map(|r| match r.extract::<(usize, String)>() {
                    Ok(v) => Ok(Ok(v)),
                    Err(_) => r.extract::<String>().map(Err),
                })
                .collect::<PyResult<_>>()?;
            let set = &tariffs.get().inner;
            let inner = &self.inner;
            let (payload, stats) =
                py.detach(|| inner.price(&refs, &zones, set, run_id, &engine, breakdown)).map_err(PyValueError::new_err)?;
            let groups = stats
                .groups
                .into_iter()
                .map(|((party, tariff, currency), g)| (party, tariff, currency, g.priced, g.changed, g.change.to_string(), g.moved.to_string()))
                .collect();
            Ok((PyBytes::new(py, &payload), (stats.priced, stats.failed, stats.changed, groups, stats.failures)))
        }
    }

    /// Where the last whole row of binary COPY data ends (header and trailer included): a reader hands that much
    /// on and keeps the rest for the next piece.
    #[pyfunction]
    fn copy_cut(copy: &Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(crate::pgcopy::binary_cut(as_bytes(copy, "copy")?))
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<PyStoredBatch>()?;
        m.add_function(wrap_pyfunction!(copy_cut, m)?)?;
        m.add("REPRICE_COLUMNS", crate::reprice::stored_batch::COLUMNS.to_vec())
    }
}

// ---------------------------------------------------------------------------------------------
// end of re-rating
// ---------------------------------------------------------------------------------------------

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PricingError", m.py().get_type::<PricingError>())?;
    m.add_class::<PyTariffSet>()?;
    m.add_class::<PyBatchResult>()?;
    m.add_function(wrap_pyfunction!(price_cdr, m)?)?;
    m.add_function(wrap_pyfunction!(price_batch, m)?)?;
    m.add_function(wrap_pyfunction!(parse_only, m)?)?;
    m.add_function(wrap_pyfunction!(error_json, m)?)?;
    m.add_function(wrap_pyfunction!(json_guard, m)?)?;
    session_bindings::register(m)?;
    add_monitor(m)?;
    courier_bindings::register(m)?;
    reprice_bindings::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
