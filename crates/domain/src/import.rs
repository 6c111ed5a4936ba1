//! CSV import rules (issue 3, item 5): reading a CSV file of order lines or customers,
//! checking its header and every field, and deciding which rows belong together.
//!
//! Everything here is pure: it reads from any [`std::io::Read`] and keeps no state outside
//! the values it returns. The application layer drives the two passes of an import (check
//! everything, then write the good orders in transactional batches) with these pieces:
//!
//! - [`CsvSource`] reads records with their line numbers. It accepts UTF-8 (with or without
//!   a byte-order mark); a UTF-16 file or a header that is not UTF-8 is refused as a whole
//!   ([`FileError`]); a field that is not UTF-8 makes only its row bad. A field longer than
//!   [`MAX_FIELD_BYTES`] is a bad row; a row running past [`MAX_ROW_BYTES`] (usually a quote
//!   left open) stops the file.
//! - [`Layout`] checks the header: every required column present, no unknown or repeated
//!   column, names case-insensitive.
//! - [`parse_order_line`] and [`parse_customer`] turn a row into typed values or one message
//!   listing every problem of the row.
//! - [`OrderScan`] (first pass) finds the orders that cannot be imported whole: a bad line, a
//!   line whose customer, time, currency or status differs from the order's first line, lines
//!   that are not adjacent, a SKU described two ways. [`KeyScan`] does the same for repeated
//!   customer ids.

use crate::EmailAddress;
use crate::customer::{Channel, Date, PhoneRegion, bounded_text, normalize_phone, preview};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest field, in bytes. Longer ones make their row bad.
pub const MAX_FIELD_BYTES: usize = 4_096;
/// Longest row, in bytes. A longer one stops the import (it is almost always a quote that was
/// opened and never closed, which swallows the rest of the file).
pub const MAX_ROW_BYTES: u64 = 1 << 20;
/// Largest quantity on one line.
pub const MAX_QUANTITY: f64 = 1e9;
/// Longest id (order, customer, SKU), in characters.
pub const MAX_ID_CHARS: usize = 100;

/// A problem with the file as a whole: nothing of it is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty: its first row must name the columns ({0})")]
    Empty(String),
    #[error(
        "the file is {0}, not UTF-8: save it as \"CSV UTF-8\" (in a spreadsheet: Save as → \
         CSV UTF-8) and import it again"
    )]
    Encoding(&'static str),
    #[error("the header row is not UTF-8 text: save the file as UTF-8 and import it again")]
    HeaderNotUtf8,
    #[error("the header row is wrong: {0}")]
    Header(String),
    #[error(
        "the row starting after line {0} runs past {MAX_ROW_BYTES} bytes: is a quote (\") \
         opened and never closed? Nothing was imported"
    )]
    RowTooLong(u64),
    #[error("reading the file failed: {0}")]
    Io(String),
}

/// A row that was not imported, and why. Lines count from 1 (the header) as an editor shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// The columns of a file: where each known column is.
#[derive(Debug, Clone)]
pub struct Layout {
    columns: HashMap<&'static str, usize>,
    width: usize,
}

impl Layout {
    /// Checks `header` against the `required` and `optional` column names.
    pub fn new(
        header: &[String],
        required: &[&'static str],
        optional: &[&'static str],
    ) -> Result<Layout, FileError> {
        let mut columns = HashMap::new();
        let mut unknown = Vec::new();
        let mut repeated = Vec::new();
        for (i, raw) in header.iter().enumerate() {
            let name = raw.trim().to_ascii_lowercase();
            match required.iter().chain(optional).find(|c| **c == name) {
                Some(c) => {
                    if columns.insert(*c, i).is_some() {
                        repeated.push(name);
                    }
                }
                None => unknown.push(preview(raw.trim(), 40)),
            }
        }
        let missing: Vec<&str> = required
            .iter()
            .filter(|c| !columns.contains_key(*c))
            .copied()
            .collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing column(s) {}", missing.join(", ")));
        }
        if !unknown.is_empty() {
            problems.push(format!("unknown column(s) {}", unknown.join(", ")));
        }
        if !repeated.is_empty() {
            problems.push(format!("repeated column(s) {}", repeated.join(", ")));
        }
        if problems.is_empty() {
            Ok(Layout {
                columns,
                width: header.len(),
            })
        } else {
            Err(FileError::Header(format!(
                "{}. The columns are {} (required) and {} (optional), in any order",
                problems.join("; "),
                required.join(","),
                optional.join(",")
            )))
        }
    }
}

/// Counts the bytes read and refuses to read far past the last complete row.
struct Guarded<R> {
    inner: R,
    read: Arc<AtomicU64>,
    mark: Arc<AtomicU64>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.read.load(Ordering::Relaxed);
        if read.saturating_sub(self.mark.load(Ordering::Relaxed)) > MAX_ROW_BYTES {
            return Err(std::io::Error::other(RowTooLongMarker));
        }
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[derive(Debug)]
struct RowTooLongMarker;

impl std::fmt::Display for RowTooLongMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("row too long")
    }
}

impl std::error::Error for RowTooLongMarker {}

/// One record of the file with the line it starts on.
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    pub line: u64,
    record: csv::ByteRecord,
}

impl RawRow {
    /// The field of `column` as text: `Ok(None)` when the column is absent or the field
    /// empty; an error when it is too long or not UTF-8.
    pub fn text(&self, layout: &Layout, column: &'static str) -> Result<Option<&str>, String> {
        let Some(i) = layout.columns.get(column) else {
            return Ok(None);
        };
        let Some(bytes) = self.record.get(*i) else {
            return Ok(None);
        };
        if bytes.len() > MAX_FIELD_BYTES {
            return Err(format!(
                "{column} is {} bytes long (at most {MAX_FIELD_BYTES})",
                bytes.len()
            ));
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                let s = s.trim();
                Ok(if s.is_empty() { None } else { Some(s) })
            }
            Err(e) => Err(format!(
                "{column} is not UTF-8 text (byte 0x{:02X} at position {}): save the file as UTF-8",
                bytes.get(e.valid_up_to()).copied().unwrap_or(0),
                e.valid_up_to() + 1
            )),
        }
    }

    /// A key for the (trimmed) raw bytes of `column`, whatever their encoding; `None` when
    /// the field is empty.
    pub fn key(&self, layout: &Layout, column: &'static str) -> Option<u64> {
        let bytes = self.record.get(*layout.columns.get(column)?)?;
        let bytes = bytes.trim_ascii();
        if bytes.is_empty() {
            return None;
        }
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        Some(h.finish())
    }

    /// The field of `column` for messages, shortened and with bad bytes replaced.
    pub fn shown(&self, layout: &Layout, column: &'static str) -> String {
        layout
            .columns
            .get(column)
            .and_then(|i| self.record.get(*i))
            .map(|b| preview(String::from_utf8_lossy(b.trim_ascii()).as_ref(), 40))
            .unwrap_or_else(|| "''".into())
    }

    /// Checks the number of fields against the header.
    fn width_error(&self, layout: &Layout) -> Option<String> {
        (self.record.len() != layout.width).then(|| {
            format!(
                "{} field(s), but the header has {}",
                self.record.len(),
                layout.width
            )
        })
    }
}

/// Reads a CSV file record by record, counting bytes for progress.
pub struct CsvSource<R: Read> {
    reader: csv::Reader<Guarded<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>>,
    layout: Layout,
    read: Arc<AtomicU64>,
    mark: Arc<AtomicU64>,
    last_line: u64,
}

impl<R: Read> CsvSource<R> {
    /// Opens `input`: checks the encoding and the header against `required` and `optional`.
    pub fn new(
        mut input: R,
        required: &[&'static str],
        optional: &[&'static str],
    ) -> Result<CsvSource<R>, FileError> {
        let mut head = Vec::with_capacity(4);
        let mut buf = [0u8; 4];
        while head.len() < 4 {
            let n = input
                .read(&mut buf[..4 - head.len()])
                .map_err(|e| FileError::Io(e.to_string()))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(FileError::Encoding("UTF-16"));
        }
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            head.drain(..3);
        }
        let read = Arc::new(AtomicU64::new(0));
        let mark = Arc::new(AtomicU64::new(0));
        let guarded = Guarded {
            inner: std::io::Cursor::new(head).chain(input),
            read: read.clone(),
            mark: mark.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(guarded);
        let expected = required.join(",");
        let header = match reader.byte_headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(csv_error(e, 0)),
        };
        if header.is_empty() || header.iter().all(|f| f.trim_ascii().is_empty()) {
            return Err(FileError::Empty(expected));
        }
        if header.iter().any(|f| f.contains(&0)) {
            return Err(FileError::Encoding("UTF-16 or binary (it has NUL bytes)"));
        }
        let names = header
            .iter()
            .map(|f| std::str::from_utf8(f).map(str::to_string))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| FileError::HeaderNotUtf8)?;
        let layout = Layout::new(&names, required, optional)?;
        mark.store(read.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(CsvSource {
            reader,
            layout,
            read,
            mark,
            last_line: 1,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Reads the next record into `row`; `Ok(false)` at the end of the file.
    pub fn next_row(&mut self, row: &mut RawRow) -> Result<bool, FileError> {
        match self.reader.read_byte_record(&mut row.record) {
            Ok(false) => Ok(false),
            Ok(true) => {
                row.line = row.record.position().map(|p| p.line()).unwrap_or(0);
                self.last_line = row.line;
                self.mark
                    .store(self.read.load(Ordering::Relaxed), Ordering::Relaxed);
                Ok(true)
            }
            Err(e) => Err(csv_error(e, self.last_line)),
        }
    }

    /// Whether a row has the header's number of fields (`Some(reason)` when not).
    pub fn width_error(&self, row: &RawRow) -> Option<String> {
        row.width_error(&self.layout)
    }
}

fn csv_error(e: csv::Error, last_line: u64) -> FileError {
    if let csv::ErrorKind::Io(io) = e.kind()
        && io
            .get_ref()
            .is_some_and(|inner| inner.is::<RowTooLongMarker>())
    {
        return FileError::RowTooLong(last_line);
    }
    FileError::Io(e.to_string())
}

/// Status of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Placed,
    Paid,
    Returned,
}

impl OrderStatus {
    pub fn parse(s: &str) -> Result<OrderStatus, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "placed" => Ok(OrderStatus::Placed),
            "paid" => Ok(OrderStatus::Paid),
            "returned" => Ok(OrderStatus::Returned),
            _ => Err(format!(
                "status {} is not placed, paid or returned",
                preview(s, 20)
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Returned => "returned",
        }
    }
}

/// Columns an orders file must have.
pub const ORDER_REQUIRED: &[&str] = &[
    "order_id",
    "customer_id",
    "ordered_at",
    "sku",
    "quantity",
    "unit_price",
];
/// Columns an orders file may have.
pub const ORDER_OPTIONAL: &[&str] = &[
    "currency",
    "status",
    "product_name",
    "category",
    "unit",
    "pack_size",
    "customer_email",
    "customer_name",
];

/// What applies when a row leaves a field empty, and the present time.
#[derive(Debug, Clone)]
pub struct OrderDefaults {
    /// ISO 4217 code for rows without `currency`.
    pub currency: String,
    /// Status for rows without `status`.
    pub status: OrderStatus,
    /// Now (epoch ms): an order more than a day after it is refused.
    pub now_ms: i64,
}

/// A product as one row describes it (only what the row says).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductInfo {
    pub name: Option<String>,
    pub category: Option<String>,
    pub unit: Option<String>,
    pub pack_size: Option<f64>,
}

/// One valid order line.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub order_id: String,
    pub customer_id: String,
    pub ordered_at: i64,
    pub sku: String,
    pub quantity: f64,
    pub unit_price_minor: i64,
    /// `unit_price_minor × quantity`, rounded to a whole minor unit.
    pub amount_minor: i64,
    pub currency: String,
    pub status: OrderStatus,
    pub product: ProductInfo,
    /// The customer's email as written and normalised.
    pub customer_email: Option<(String, String)>,
    pub customer_name: Option<String>,
}

/// Reads a required id column: trimmed, 1-100 characters, no control characters.
fn id_field(
    row: &RawRow,
    layout: &Layout,
    column: &'static str,
    errors: &mut Vec<String>,
) -> String {
    match row.text(layout, column) {
        Ok(Some(s)) => {
            if s.chars().count() > MAX_ID_CHARS {
                errors.push(format!("{column} is longer than {MAX_ID_CHARS} characters"));
            } else if s.chars().any(char::is_control) {
                errors.push(format!("{column} contains control characters"));
            } else {
                return s.to_string();
            }
        }
        Ok(None) => errors.push(format!("{column} is empty")),
        Err(e) => errors.push(e),
    }
    String::new()
}

/// Reads an optional column, collecting its error.
fn opt_field<'a>(
    row: &'a RawRow,
    layout: &Layout,
    column: &'static str,
    errors: &mut Vec<String>,
) -> Option<&'a str> {
    match row.text(layout, column) {
        Ok(v) => v,
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

fn opt_text(
    row: &RawRow,
    layout: &Layout,
    column: &'static str,
    max: usize,
    errors: &mut Vec<String>,
) -> Option<String> {
    let v = opt_field(row, layout, column, errors)?;
    match bounded_text(column, v, max, false) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    }
}

/// Checks one row of an orders file. The error lists every problem of the row.
pub fn parse_order_line(
    row: &RawRow,
    layout: &Layout,
    d: &OrderDefaults,
) -> Result<OrderLine, String> {
    let mut errors = Vec::new();
    if let Some(w) = row.width_error(layout) {
        errors.push(w);
    }
    let order_id = id_field(row, layout, "order_id", &mut errors);
    let customer_id = id_field(row, layout, "customer_id", &mut errors);
    let sku = id_field(row, layout, "sku", &mut errors);
    let ordered_at = match row.text(layout, "ordered_at") {
        Ok(Some(s)) => match parse_time(s, d.now_ms) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                0
            }
        },
        Ok(None) => {
            errors.push("ordered_at is empty".into());
            0
        }
        Err(e) => {
            errors.push(e);
            0
        }
    };
    let currency = match opt_field(row, layout, "currency", &mut errors) {
        Some(c) => match currency_code(c) {
            Ok(c) => c,
            Err(e) => {
                errors.push(e);
                d.currency.clone()
            }
        },
        None => d.currency.clone(),
    };
    let quantity = match row.text(layout, "quantity") {
        Ok(Some(s)) => match parse_quantity("quantity", s) {
            Ok(q) => q,
            Err(e) => {
                errors.push(e);
                0.0
            }
        },
        Ok(None) => {
            errors.push("quantity is empty".into());
            0.0
        }
        Err(e) => {
            errors.push(e);
            0.0
        }
    };
    let unit_price_minor = match row.text(layout, "unit_price") {
        Ok(Some(s)) => match parse_money(s, minor_digits(&currency)) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("unit_price {e} ({currency})"));
                0
            }
        },
        Ok(None) => {
            errors.push("unit_price is empty".into());
            0
        }
        Err(e) => {
            errors.push(e);
            0
        }
    };
    let amount = (unit_price_minor as f64 * quantity).round();
    if !(0.0..9.0e15).contains(&amount) {
        errors.push("quantity × unit_price is too large".into());
    }
    let status = match opt_field(row, layout, "status", &mut errors) {
        Some(s) => OrderStatus::parse(s).unwrap_or_else(|e| {
            errors.push(e);
            d.status
        }),
        None => d.status,
    };
    let pack_size = match opt_field(row, layout, "pack_size", &mut errors) {
        Some(s) => match parse_quantity("pack_size", s) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => None,
    };
    let product = ProductInfo {
        name: opt_text(row, layout, "product_name", 200, &mut errors),
        category: opt_text(row, layout, "category", 100, &mut errors),
        unit: opt_text(row, layout, "unit", 20, &mut errors),
        pack_size,
    };
    let customer_email = match opt_field(row, layout, "customer_email", &mut errors) {
        Some(e) => match EmailAddress::parse(e) {
            Ok(n) => Some((e.to_string(), n.as_str().to_string())),
            Err(err) => {
                errors.push(format!("customer_email: {err}"));
                None
            }
        },
        None => None,
    };
    let customer_name = opt_text(row, layout, "customer_name", 200, &mut errors);
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(OrderLine {
        order_id,
        customer_id,
        ordered_at,
        sku,
        quantity,
        unit_price_minor,
        amount_minor: amount as i64,
        currency,
        status,
        product,
        customer_email,
        customer_name,
    })
}

/// An order time: RFC 3339 (`2026-03-01T09:30:00+09:00`) or `YYYY-MM-DD[ HH:MM[:SS]]`
/// (also with `T`), read as UTC. From 1970 to a day after `now_ms`.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64, String> {
    let bad = || {
        format!(
            "ordered_at {} is not a date (use RFC 3339 such as 2026-03-01T09:30:00+09:00, or \
             YYYY-MM-DD, YYYY-MM-DD HH:MM or YYYY-MM-DD HH:MM:SS in UTC)",
            preview(s, 40)
        )
    };
    let b = s.as_bytes();
    let date_shape = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    if !date_shape || s.len() > 40 {
        return Err(bad());
    }
    let ms = if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        ts.as_millisecond()
    } else if s.len() == 10 {
        let date: jiff::civil::Date = s.parse().map_err(|_| bad())?;
        date.to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp()
            .as_millisecond()
    } else {
        let sep = b[10];
        if sep != b' ' && sep != b'T' {
            return Err(bad());
        }
        let dt: jiff::civil::DateTime = s.parse().map_err(|_| bad())?;
        dt.to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp()
            .as_millisecond()
    };
    if ms < 0 {
        return Err(format!("ordered_at {} is before 1970", preview(s, 40)));
    }
    if ms > now_ms + 86_400_000 {
        return Err(format!("ordered_at {} is in the future", preview(s, 40)));
    }
    Ok(ms)
}

/// A positive decimal (`2`, `0.5`, `10.25`): digits with at most one `.`, above zero and at
/// most [`MAX_QUANTITY`].
pub fn parse_quantity(column: &str, s: &str) -> Result<f64, String> {
    if s.starts_with('-') {
        return Err(format!("{column} {} must be above zero", preview(s, 20)));
    }
    let ok = !s.is_empty()
        && s.len() <= 20
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().filter(|c| *c == '.').count() <= 1
        && s.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return Err(format!(
            "{column} {} is not a number (use digits and a '.', e.g. 2 or 0.5)",
            preview(s, 20)
        ));
    }
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{column} {} is not a number", preview(s, 20)))?;
    if v <= 0.0 {
        return Err(format!("{column} {} must be above zero", preview(s, 20)));
    }
    if v > MAX_QUANTITY {
        return Err(format!("{column} {} is too large", preview(s, 20)));
    }
    Ok(v)
}

/// A non-negative amount in major units (`12.50`) as minor units, with at most `digits`
/// decimals (trailing zeros beyond them are fine).
pub fn parse_money(s: &str, digits: u32) -> Result<i64, String> {
    if s.starts_with('-') {
        return Err(format!("{} must not be negative", preview(s, 20)));
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        let hint = if s.contains(',') {
            " (use '.' for decimals and no thousands separators)"
        } else {
            ""
        };
        return Err(format!("{} is not an amount{hint}", preview(s, 20)));
    }
    if int.len() > 15 {
        return Err(format!("{} is too large", preview(s, 20)));
    }
    let digits = digits as usize;
    let (kept, extra) = frac.split_at(frac.len().min(digits));
    if extra.chars().any(|c| c != '0') {
        return Err(format!(
            "{} has more than {digits} decimal place(s)",
            preview(s, 20)
        ));
    }
    let mut v: i64 = 0;
    for c in int.chars().chain(kept.chars()) {
        v = v * 10 + i64::from(c as u8 - b'0');
    }
    for _ in kept.len()..digits {
        v *= 10;
    }
    Ok(v)
}

/// A currency code: three ASCII letters (ISO 4217), upper-cased.
pub fn currency_code(s: &str) -> Result<String, String> {
    if s.len() == 3 && s.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(s.to_ascii_uppercase())
    } else {
        Err(format!(
            "currency {} is not a three-letter ISO 4217 code such as USD, CNY, KRW or JPY",
            preview(s, 20)
        ))
    }
}

/// Digits after the decimal point of a currency (ISO 4217 exponent); 2 unless listed.
pub fn minor_digits(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// First pass over an orders file: which orders cannot be imported whole, and why.
#[derive(Debug, Default)]
pub struct OrderScan {
    /// Every order seen: its first line.
    first_line: HashMap<u64, u64>,
    /// Orders with a bad line: the first bad line.
    bad: HashMap<u64, u64>,
    /// The order being read and its first good line.
    current: Option<(u64, Option<OrderLine>)>,
    /// What the file says about each SKU, and on which line it first said it.
    products: HashMap<String, (ProductInfo, u64)>,
}

impl OrderScan {
    pub fn new() -> OrderScan {
        OrderScan::default()
    }

    /// Takes one row (`key`: [`RawRow::key`] of `order_id`); answers why it is bad, if it is.
    pub fn row(
        &mut self,
        line: u64,
        key: Option<u64>,
        parsed: &Result<OrderLine, String>,
    ) -> Option<String> {
        let Some(key) = key else {
            return Some(match parsed {
                Err(e) => e.clone(),
                Ok(_) => "order_id is empty".into(),
            });
        };
        let mut reason = None;
        if self.current.as_ref().map(|c| c.0) != Some(key) {
            if let Some(first) = self.first_line.get(&key) {
                reason = Some(format!(
                    "this order started at line {first} and other orders came in between: \
                     keep all lines of an order together"
                ));
            } else {
                self.first_line.insert(key, line);
            }
            self.current = Some((key, None));
        }
        match parsed {
            Err(e) => {
                reason = Some(match reason {
                    Some(r) => format!("{e}; {r}"),
                    None => e.clone(),
                });
            }
            Ok(l) => {
                if let Some((_, first)) = &mut self.current {
                    match first {
                        None => *first = Some(l.clone()),
                        Some(f) => {
                            let fl = self.first_line.get(&key).copied().unwrap_or(0);
                            let mut diff = Vec::new();
                            if f.customer_id != l.customer_id {
                                diff.push(format!(
                                    "customer_id {} differs from {}",
                                    preview(&l.customer_id, 40),
                                    preview(&f.customer_id, 40)
                                ));
                            }
                            if f.ordered_at != l.ordered_at {
                                diff.push("ordered_at differs".to_string());
                            }
                            if f.currency != l.currency {
                                diff.push(format!(
                                    "currency {} differs from {}",
                                    l.currency, f.currency
                                ));
                            }
                            if f.status != l.status {
                                diff.push(format!(
                                    "status {} differs from {}",
                                    l.status.as_str(),
                                    f.status.as_str()
                                ));
                            }
                            if !diff.is_empty() {
                                let msg = format!(
                                    "{} on the order's first line (line {fl}); one order has one \
                                     customer, time, currency and status",
                                    diff.join(", ")
                                );
                                reason = Some(match reason {
                                    Some(r) => format!("{r}; {msg}"),
                                    None => msg,
                                });
                            }
                        }
                    }
                }
                if let Some(msg) = self.product_conflict(line, l) {
                    reason = Some(match reason {
                        Some(r) => format!("{r}; {msg}"),
                        None => msg,
                    });
                }
            }
        }
        if reason.is_some() {
            self.bad.entry(key).or_insert(line);
        }
        reason
    }

    fn product_conflict(&mut self, line: u64, l: &OrderLine) -> Option<String> {
        let (seen, at) = self
            .products
            .entry(l.sku.clone())
            .or_insert_with(|| (ProductInfo::default(), line));
        let mut diff = Vec::new();
        let p = &l.product;
        fn same<T: PartialEq + Clone>(
            seen: &mut Option<T>,
            new: &Option<T>,
            name: &str,
            diff: &mut Vec<String>,
        ) {
            match (seen.as_ref(), new) {
                (_, None) => {}
                (None, Some(v)) => *seen = Some(v.clone()),
                (Some(a), Some(b)) if a == b => {}
                (Some(_), Some(_)) => diff.push(name.to_string()),
            }
        }
        same(&mut seen.name, &p.name, "product_name", &mut diff);
        same(&mut seen.category, &p.category, "category", &mut diff);
        same(&mut seen.unit, &p.unit, "unit", &mut diff);
        same(&mut seen.pack_size, &p.pack_size, "pack_size", &mut diff);
        (!diff.is_empty()).then(|| {
            format!(
                "sku {}: {} differ(s) from what an earlier line (from line {at}) says; describe \
                 a product the same way on every line",
                preview(&l.sku, 40),
                diff.join(", ")
            )
        })
    }

    /// The first bad line of the order with `key`, if it has one.
    pub fn bad_line(&self, key: u64) -> Option<u64> {
        self.bad.get(&key).copied()
    }

    /// What the whole file says about `sku`.
    pub fn product(&self, sku: &str) -> Option<&ProductInfo> {
        self.products.get(sku).map(|p| &p.0)
    }

    /// Orders that will not be imported.
    pub fn bad_orders(&self) -> usize {
        self.bad.len()
    }
}

/// Columns a customers file must have.
pub const CUSTOMER_REQUIRED: &[&str] = &["customer_id", "name"];
/// Columns a customers file may have.
pub const CUSTOMER_OPTIONAL: &[&str] = &[
    "email",
    "phone",
    "given_name",
    "family_name",
    "language",
    "time_zone",
    "birthday",
    "preferred_channel",
    "tags",
];

/// Most tags in one `tags` field.
pub const MAX_IMPORT_TAGS: usize = 50;

/// One valid row of a customers file. `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerRecord {
    pub external_id: String,
    pub name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// As written and normalised.
    pub email: Option<(String, String)>,
    /// As written and normalised (E.164).
    pub phone: Option<(String, String)>,
    pub language: Option<String>,
    /// An IANA zone name; the caller checks that it exists.
    pub time_zone: Option<String>,
    pub birthday: Option<String>,
    pub preferred_channel: Option<String>,
    /// Lower-cased, without repeats.
    pub tags: Vec<String>,
}

/// Checks one row of a customers file. The error lists every problem of the row.
pub fn parse_customer(row: &RawRow, layout: &Layout) -> Result<CustomerRecord, String> {
    let mut errors = Vec::new();
    if let Some(w) = row.width_error(layout) {
        errors.push(w);
    }
    let external_id = id_field(row, layout, "customer_id", &mut errors);
    let name = match row.text(layout, "name") {
        Ok(Some(n)) => bounded_text("name", n, 200, true).unwrap_or_else(|e| {
            errors.push(e.to_string());
            String::new()
        }),
        Ok(None) => {
            errors.push("name is empty".into());
            String::new()
        }
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };
    let given_name = opt_text(row, layout, "given_name", 100, &mut errors);
    let family_name = opt_text(row, layout, "family_name", 100, &mut errors);
    let email = match opt_field(row, layout, "email", &mut errors) {
        Some(e) => match EmailAddress::parse(e) {
            Ok(n) => Some((e.to_string(), n.as_str().to_string())),
            Err(err) => {
                errors.push(format!("email: {err}"));
                None
            }
        },
        None => None,
    };
    let language = match opt_field(row, layout, "language", &mut errors) {
        Some(l) => {
            let ok = (2..=35).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-');
            if ok {
                Some(l.to_string())
            } else {
                errors.push(format!(
                    "language {} is not a language tag (e.g. en, zh-CN, ko)",
                    preview(l, 30)
                ));
                None
            }
        }
        None => None,
    };
    let phone = match opt_field(row, layout, "phone", &mut errors) {
        Some(p) => {
            let region = language.as_deref().and_then(PhoneRegion::from_language);
            match normalize_phone(p, region) {
                Ok(n) => Some((p.to_string(), n)),
                Err(e) => {
                    errors.push(format!("phone: {e}"));
                    None
                }
            }
        }
        None => None,
    };
    let time_zone = match opt_field(row, layout, "time_zone", &mut errors) {
        Some(z) if z.len() <= 64 && !z.chars().any(char::is_control) => Some(z.to_string()),
        Some(z) => {
            errors.push(format!("time_zone {} is not a time zone", preview(z, 30)));
            None
        }
        None => None,
    };
    let birthday = match opt_field(row, layout, "birthday", &mut errors) {
        Some(b) => match Date::parse(b) {
            Ok(d) => Some(d.to_string()),
            Err(e) => {
                errors.push(format!("birthday: {e}"));
                None
            }
        },
        None => None,
    };
    let preferred_channel = match opt_field(row, layout, "preferred_channel", &mut errors) {
        Some(c) => match Channel::parse(c) {
            Ok(c) => Some(c.as_str().to_string()),
            Err(e) => {
                errors.push(format!("preferred_channel: {e}"));
                None
            }
        },
        None => None,
    };
    let mut tags: Vec<String> = Vec::new();
    if let Some(t) = opt_field(row, layout, "tags", &mut errors) {
        for tag in t.split([';', '|']) {
            let tag = tag.trim();
            if tag.is_empty() {
                continue;
            }
            match bounded_text("a tag", tag, 40, true) {
                Ok(tag) => {
                    let tag = tag.to_lowercase();
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if tags.len() > MAX_IMPORT_TAGS {
            errors.push(format!("at most {MAX_IMPORT_TAGS} tags"));
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(CustomerRecord {
        external_id,
        name,
        given_name,
        family_name,
        email,
        phone,
        language,
        time_zone,
        birthday,
        preferred_channel,
        tags,
    })
}

/// First pass over a file of records that must each appear once (customers): the keys seen
/// twice.
#[derive(Debug, Default)]
pub struct KeyScan {
    first_line: HashMap<u64, u64>,
    repeated: HashMap<u64, u64>,
}

impl KeyScan {
    pub fn new() -> KeyScan {
        KeyScan::default()
    }

    /// Takes one row's key; answers why it is bad when the key was seen before.
    pub fn row(&mut self, line: u64, key: Option<u64>) -> Option<String> {
        let key = key?;
        match self.first_line.get(&key) {
            Some(first) => {
                self.repeated.entry(key).or_insert(line);
                Some(format!(
                    "customer_id is repeated (first on line {first}); each customer must appear \
                     once"
                ))
            }
            None => {
                self.first_line.insert(key, line);
                None
            }
        }
    }

    /// When `key` is repeated: the line of its first repetition.
    pub fn repeated(&self, key: u64) -> Option<u64> {
        self.repeated.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn defaults() -> OrderDefaults {
        OrderDefaults {
            currency: "USD".into(),
            status: OrderStatus::Paid,
            now_ms: NOW,
        }
    }

    fn rows(csv: &[u8]) -> Result<(Layout, Vec<RawRow>), FileError> {
        let mut src = CsvSource::new(csv, ORDER_REQUIRED, ORDER_OPTIONAL)?;
        let mut out = Vec::new();
        let mut r = RawRow::default();
        while src.next_row(&mut r)? {
            out.push(r.clone());
        }
        Ok((src.layout().clone(), out))
    }

    #[test]
    fn money_in_minor_units() {
        assert_eq!(parse_money("12.5", 2), Ok(1250));
        assert_eq!(parse_money("12.50", 2), Ok(1250));
        assert_eq!(parse_money("12", 2), Ok(1200));
        assert_eq!(parse_money("0", 2), Ok(0));
        assert_eq!(parse_money(".5", 2), Ok(50));
        assert_eq!(parse_money("1200", 0), Ok(1200));
        assert_eq!(parse_money("1200.00", 0), Ok(1200));
        assert!(parse_money("12.345", 2).unwrap_err().contains("decimal"));
        assert!(parse_money("-1", 2).unwrap_err().contains("negative"));
        assert!(parse_money("1,200.00", 2).unwrap_err().contains("'.'"));
        assert!(parse_money("abc", 2).is_err());
        assert!(parse_money(".", 2).is_err());
        assert!(parse_money("9999999999999999", 2).is_err());
        assert_eq!(minor_digits("KRW"), 0);
        assert_eq!(minor_digits("KWD"), 3);
        assert_eq!(minor_digits("CNY"), 2);
    }

    #[test]
    fn times_and_quantities() {
        let day = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        assert_eq!(parse_time("2026-01-01", NOW), Ok(day));
        assert_eq!(parse_time("2026-01-01 00:01", NOW), Ok(day + 60_000));
        assert_eq!(parse_time("2026-01-01 00:00:02", NOW), Ok(day + 2_000));
        assert_eq!(parse_time("2026-01-01T00:00:02", NOW), Ok(day + 2_000));
        assert_eq!(parse_time("2026-01-01T09:00:00+09:00", NOW), Ok(day));
        assert_eq!(parse_time("2026-01-01T00:00:00Z", NOW), Ok(day));
        assert!(parse_time("01/02/2026", NOW).is_err());
        assert!(parse_time("2026-02-30", NOW).is_err());
        assert!(parse_time("2026-01-01 25:00", NOW).is_err());
        assert!(parse_time("1969-12-31", NOW).unwrap_err().contains("1970"));
        assert!(
            parse_time("2099-01-01", NOW)
                .unwrap_err()
                .contains("future")
        );
        assert_eq!(parse_quantity("quantity", "2"), Ok(2.0));
        assert_eq!(parse_quantity("quantity", "0.5"), Ok(0.5));
        assert!(
            parse_quantity("quantity", "-1")
                .unwrap_err()
                .contains("above zero")
        );
        assert!(
            parse_quantity("quantity", "0")
                .unwrap_err()
                .contains("above zero")
        );
        assert!(parse_quantity("quantity", "1e3").is_err());
        assert!(parse_quantity("quantity", "NaN").is_err());
        assert!(parse_quantity("quantity", "1.2.3").is_err());
    }

    #[test]
    fn header_names_missing_unknown_and_repeated_columns() {
        let e = rows(b"order_id,customer,ordered_at,sku,quantity,quantity\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("missing column(s) customer_id, unit_price"),
            "{e}"
        );
        assert!(e.contains("unknown column(s) 'customer'"), "{e}");
        assert!(e.contains("repeated column(s) quantity"), "{e}");
        // Names are case-insensitive, in any order, with a UTF-8 BOM.
        let (_, r) = rows(
            "\u{feff}SKU,Order_ID,customer_id,ordered_at,quantity,unit_price\nA,1,c,2026-01-01,1,2\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.len(), 1);
        assert!(matches!(rows(b""), Err(FileError::Empty(_))));
    }

    #[test]
    fn encodings() {
        // UTF-16 with a byte-order mark is refused as a whole.
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "order_id,customer_id\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(rows(&utf16).err(), Some(FileError::Encoding("UTF-16")));
        // A Latin-1 byte in a field makes only that row bad, naming the column.
        let csv = b"order_id,customer_id,ordered_at,sku,quantity,unit_price,customer_name\n\
            1,c1,2026-01-01,A,1,2.00,Jos\xE9\n2,c2,2026-01-01,A,1,2.00,Ann\n";
        let (layout, r) = rows(csv).unwrap();
        let e = parse_order_line(&r[0], &layout, &defaults()).unwrap_err();
        assert!(e.contains("customer_name is not UTF-8"), "{e}");
        assert_eq!(r[0].line, 2);
        assert!(parse_order_line(&r[1], &layout, &defaults()).is_ok());
    }

    #[test]
    fn a_row_lists_all_its_problems() {
        let csv = b"order_id,customer_id,ordered_at,sku,quantity,unit_price,currency\n\
            1,c1,yesterday,A,-2,1.999,usd\n";
        let (layout, r) = rows(csv).unwrap();
        let e = parse_order_line(&r[0], &layout, &defaults()).unwrap_err();
        assert!(e.contains("ordered_at 'yesterday' is not a date"), "{e}");
        assert!(e.contains("quantity '-2' must be above zero"), "{e}");
        assert!(e.contains("decimal place"), "{e}");
        let csv = b"order_id,customer_id,ordered_at,sku,quantity,unit_price\n1,c1\n";
        let (layout, r) = rows(csv).unwrap();
        let e = parse_order_line(&r[0], &layout, &defaults()).unwrap_err();
        assert!(e.contains("2 field(s), but the header has 6"), "{e}");
    }

    #[test]
    fn huge_fields_and_runaway_rows() {
        let mut csv = b"order_id,customer_id,ordered_at,sku,quantity,unit_price,product_name\n\
            1,c1,2026-01-01,A,1,2,"
            .to_vec();
        csv.extend(std::iter::repeat_n(b'x', MAX_FIELD_BYTES + 1));
        csv.extend_from_slice(b"\n");
        let (layout, r) = rows(&csv).unwrap();
        let e = parse_order_line(&r[0], &layout, &defaults()).unwrap_err();
        assert!(e.contains("product_name is 4097 bytes long"), "{e}");
        let mut csv =
            b"order_id,customer_id,ordered_at,sku,quantity,unit_price\n1,c,2026-01-01,A,1,2\n\"2"
                .to_vec();
        csv.extend(std::iter::repeat_n(b'y', 2 * MAX_ROW_BYTES as usize));
        assert_eq!(rows(&csv).err(), Some(FileError::RowTooLong(2)));
    }

    #[test]
    fn orders_are_judged_whole() {
        let csv = b"order_id,customer_id,ordered_at,sku,quantity,unit_price,product_name\n\
            A,c1,2026-01-01,S1,1,2,Rice\n\
            A,c1,2026-01-01,S2,1,2,\n\
            B,c2,2026-01-01,S1,1,2,\n\
            B,c3,2026-01-01,S1,1,2,\n\
            C,c2,2026-01-02,S1,1,2,\n\
            A,c1,2026-01-01,S3,1,2,\n\
            D,c2,2026-01-02,S1,x,2,\n\
            E,c2,2026-01-02,S1,1,2,Rice 10kg\n";
        let (layout, r) = rows(csv).unwrap();
        let mut scan = OrderScan::new();
        let mut bad = Vec::new();
        for row in &r {
            let parsed = parse_order_line(row, &layout, &defaults());
            if let Some(why) = scan.row(row.line, row.key(&layout, "order_id"), &parsed) {
                bad.push((row.line, why));
            }
        }
        let lines: Vec<u64> = bad.iter().map(|b| b.0).collect();
        assert_eq!(lines, vec![5, 7, 8, 9], "{bad:?}");
        assert!(
            bad[0].1.contains("customer_id 'c3' differs from 'c2'"),
            "{bad:?}"
        );
        assert!(bad[1].1.contains("started at line 2"), "{bad:?}");
        assert!(bad[2].1.contains("quantity"), "{bad:?}");
        assert!(bad[3].1.contains("product_name"), "{bad:?}");
        let key = |line: usize| r[line - 2].key(&layout, "order_id").unwrap();
        assert_eq!(scan.bad_line(key(2)), Some(7));
        assert_eq!(scan.bad_line(key(4)), Some(5));
        assert_eq!(scan.bad_line(key(6)), None);
        assert_eq!(scan.product("S1").unwrap().name.as_deref(), Some("Rice"));
    }

    #[test]
    fn customers_rows_and_repeats() {
        let csv = "customer_id,name,email,phone,language,birthday,tags,preferred_channel\n\
            c1,王芳,Wang@Example.com,010-1234-5678,ko,1980-02-29,VIP; rice|rice,email\n\
            c2,Ann,not-an-email,,,1980-02-30,,pigeon\n\
            c1,Again,,,,,,\n";
        let mut src = CsvSource::new(csv.as_bytes(), CUSTOMER_REQUIRED, CUSTOMER_OPTIONAL).unwrap();
        let mut r = RawRow::default();
        let mut scan = KeyScan::new();
        let mut out = Vec::new();
        while src.next_row(&mut r).unwrap() {
            let dup = scan.row(r.line, r.key(src.layout(), "customer_id"));
            out.push((parse_customer(&r, src.layout()), dup));
        }
        let c = out[0].0.as_ref().unwrap();
        assert_eq!(c.name, "王芳");
        assert_eq!(c.email.as_ref().unwrap().1, "wang@example.com");
        assert_eq!(c.phone.as_ref().unwrap().1, "+821012345678");
        assert_eq!(c.tags, vec!["vip", "rice"]);
        let e = out[1].0.as_ref().unwrap_err();
        assert!(
            e.contains("email") && e.contains("birthday") && e.contains("channel"),
            "{e}"
        );
        assert!(out[2].1.as_ref().unwrap().contains("first on line 2"));
    }
}
