//! Civil dates from epoch milliseconds and back, and the locale-specific ways of writing dates
//! and amounts of money inside generated text.
//!
//! The day arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`, exact for the
//! proleptic Gregorian calendar, so the crate needs no date library.

use crate::model::{Currency, GenDate, Locale};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (days since 1970-01-01).
pub(crate) fn civil_from_days(days: i64) -> GenDate {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    GenDate { year, month, day }
}

/// The UTC civil date of an instant in epoch milliseconds.
pub(crate) fn date_of_ms(ms: i64) -> GenDate {
    civil_from_days(ms.div_euclid(DAY_MS))
}

/// Epoch milliseconds of midnight UTC at the start of a civil date.
pub fn ms_of_date(year: i32, month: u8, day: u8) -> i64 {
    days_from_civil(year, month, day) * DAY_MS
}

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A date as a person writing in `locale` would write it in a message.
pub(crate) fn format_date(locale: Locale, d: GenDate) -> String {
    match locale {
        Locale::Zh | Locale::Ja => format!("{}年{}月{}日", d.year, d.month, d.day),
        Locale::Ko => format!("{}년 {}월 {}일", d.year, d.month, d.day),
        Locale::En => {
            let month = EN_MONTHS[usize::from(d.month.clamp(1, 12) - 1)];
            format!("{month} {}, {}", d.day, d.year)
        }
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// An amount in minor units written the way shops in that currency's country write it:
/// `¥59.90`, `35,000원`, `3,980円`, `$24.99`.
pub fn format_money(currency: Currency, minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    match currency {
        Currency::Cny => format!("{sign}¥{}.{:02}", group_thousands(abs / 100), abs % 100),
        Currency::Usd => format!("{sign}${}.{:02}", group_thousands(abs / 100), abs % 100),
        Currency::Krw => format!("{sign}{}원", group_thousands(abs)),
        Currency::Jpy => format!("{sign}{}円", group_thousands(abs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in (-800_000..800_000).step_by(997) {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days);
        }
        let d = date_of_ms(ms_of_date(2024, 2, 29) + 5 * 3_600_000);
        assert_eq!((d.year, d.month, d.day), (2024, 2, 29));
    }

    #[test]
    fn formats() {
        let d = GenDate {
            year: 2024,
            month: 3,
            day: 5,
        };
        assert_eq!(format_date(Locale::Zh, d), "2024年3月5日");
        assert_eq!(format_date(Locale::Ko, d), "2024년 3월 5일");
        assert_eq!(format_date(Locale::En, d), "March 5, 2024");
        assert_eq!(format_money(Currency::Cny, 5990), "¥59.90");
        assert_eq!(format_money(Currency::Krw, 1_234_500), "1,234,500원");
        assert_eq!(format_money(Currency::Jpy, 3980), "3,980円");
        assert_eq!(format_money(Currency::Usd, 123_456_789), "$1,234,567.89");
        assert_eq!(format_money(Currency::Usd, -5), "-$0.05");
    }
}
