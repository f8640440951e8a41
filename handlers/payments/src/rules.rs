//! The business rules of a payment consent's `payment` and `creditor` that the schema cannot
//! say (payments 4.0.0 descriptions; requirements §7.3): which Pix details each local
//! instrument takes, the payment date or schedule, and the dates a schedule makes. Each
//! refusal carries the 422 code the spec gives it.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde_json::Value;

/// A refusal with the spec's 422 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: &'static str,
    pub detail: String,
}

fn violation(code: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        code,
        detail: detail.into(),
    }
}

pub const PARAMETRO_INVALIDO: &str = "PARAMETRO_INVALIDO";
pub const PARAMETRO_NAO_INFORMADO: &str = "PARAMETRO_NAO_INFORMADO";
pub const DETALHE_PAGAMENTO_INVALIDO: &str = "DETALHE_PAGAMENTO_INVALIDO";
pub const DATA_PAGAMENTO_INVALIDA: &str = "DATA_PAGAMENTO_INVALIDA";
pub const FORMA_PAGAMENTO_INVALIDA: &str = "FORMA_PAGAMENTO_INVALIDA";

/// The furthest a single scheduled payment may be: D+730.
const SINGLE_MAX_DAYS: u64 = 730;
/// A recurrence ends within two years of its creation.
const RECURRENCE_MAX_DAYS: u64 = 730;
/// No schedule makes more than 60 payments.
const MAX_PAYMENTS: usize = 60;

/// Checks a consent request's `data` (already valid against the schema) at `today`
/// (Brasília). Returns the dates it pays on: one for an immediate payment (today), the
/// schedule's otherwise.
pub fn check_consent(data: &Value, today: NaiveDate) -> Result<Vec<NaiveDate>, Violation> {
    let payment = &data["payment"];
    if payment["type"] != "PIX" {
        return Err(violation(
            FORMA_PAGAMENTO_INVALIDA,
            "payment.type: only PIX is offered",
        ));
    }
    if payment["currency"] != "BRL" {
        return Err(violation(
            PARAMETRO_INVALIDO,
            "payment.currency must be BRL",
        ));
    }
    check_creditor(&data["creditor"])?;
    let dates = match (payment.get("date"), payment.get("schedule")) {
        (Some(_), Some(_)) => {
            return Err(violation(
                PARAMETRO_INVALIDO,
                "payment: date and schedule exclude each other",
            ));
        }
        (None, None) => {
            return Err(violation(
                PARAMETRO_NAO_INFORMADO,
                "payment: one of date or schedule is required",
            ));
        }
        (Some(date), None) => {
            let date = parse_date(date, "payment.date")?;
            if date != today {
                return Err(violation(
                    DATA_PAGAMENTO_INVALIDA,
                    "payment.date of an immediate payment is today",
                ));
            }
            vec![date]
        }
        (None, Some(schedule)) => schedule_dates(schedule, today)?,
    };
    let recurring = dates.len() > 1;
    check_details(&payment["details"], recurring)?;
    if let Some(debtor) = data.get("debtorAccount") {
        check_accounts_differ(debtor, &payment["details"]["creditorAccount"])?;
    }
    Ok(dates)
}

fn check_creditor(creditor: &Value) -> Result<(), Violation> {
    let document = creditor["cpfCnpj"].as_str().unwrap_or_default();
    let expected = match creditor["personType"].as_str() {
        Some("PESSOA_NATURAL") => 11,
        Some("PESSOA_JURIDICA") => 14,
        _ => return Err(violation(PARAMETRO_INVALIDO, "creditor.personType")),
    };
    if document.len() != expected {
        return Err(violation(
            PARAMETRO_INVALIDO,
            "creditor.cpfCnpj does not fit creditor.personType",
        ));
    }
    Ok(())
}

/// Which of `proxy` and `qrCode` each local instrument takes.
fn check_details(details: &Value, recurring: bool) -> Result<(), Violation> {
    let has = |field: &str| details.get(field).is_some_and(|v| !v.is_null());
    let instrument = details["localInstrument"].as_str().unwrap_or_default();
    let (proxy, qr_code) = match instrument {
        "MANU" => (Need::Absent, Need::Absent),
        "DICT" | "INIC" => (Need::Present, Need::Absent),
        "QRES" | "QRDN" => (Need::Present, Need::Present),
        _ => return Err(violation(PARAMETRO_INVALIDO, "details.localInstrument")),
    };
    for (field, need) in [("proxy", proxy), ("qrCode", qr_code)] {
        match (need, has(field)) {
            (Need::Present, false) => {
                return Err(violation(
                    PARAMETRO_NAO_INFORMADO,
                    format!("details.{field} is required with {instrument}"),
                ));
            }
            (Need::Absent, true) => {
                return Err(violation(
                    DETALHE_PAGAMENTO_INVALIDO,
                    format!("details.{field} is not allowed with {instrument}"),
                ));
            }
            _ => {}
        }
    }
    if recurring && !matches!(instrument, "MANU" | "DICT" | "QRES") {
        return Err(violation(
            DETALHE_PAGAMENTO_INVALIDO,
            format!("a recurring schedule cannot use {instrument}"),
        ));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Need {
    Present,
    Absent,
}

fn check_accounts_differ(debtor: &Value, creditor: &Value) -> Result<(), Violation> {
    let same = ["ispb", "issuer", "number", "accountType"]
        .iter()
        .all(|k| debtor.get(*k) == creditor.get(*k));
    if same {
        return Err(violation(
            DETALHE_PAGAMENTO_INVALIDO,
            "the debtor and creditor accounts are the same",
        ));
    }
    Ok(())
}

fn parse_date(value: &Value, field: &str) -> Result<NaiveDate, Violation> {
    value
        .as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .ok_or_else(|| violation(PARAMETRO_INVALIDO, format!("{field} is not a date")))
}

fn quantity(value: &Value, field: &str, max: i64) -> Result<usize, Violation> {
    match value.as_i64() {
        Some(n) if (2..=max).contains(&n) => Ok(n as usize),
        Some(_) => Err(violation(
            PARAMETRO_INVALIDO,
            format!("{field}: quantity outside 2..={max}"),
        )),
        None => Err(violation(PARAMETRO_NAO_INFORMADO, field.to_string())),
    }
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name {
        "SEGUNDA_FEIRA" => Weekday::Mon,
        "TERCA_FEIRA" => Weekday::Tue,
        "QUARTA_FEIRA" => Weekday::Wed,
        "QUINTA_FEIRA" => Weekday::Thu,
        "SEXTA_FEIRA" => Weekday::Fri,
        "SABADO" => Weekday::Sat,
        "DOMINGO" => Weekday::Sun,
        _ => return None,
    })
}

/// The dates `schedule` pays on, checked: every one from D+1, a single one up to D+730, a
/// recurrence within two years and 60 payments, no date twice. A monthly day the month lacks
/// moves to the next day.
pub fn schedule_dates(schedule: &Value, today: NaiveDate) -> Result<Vec<NaiveDate>, Violation> {
    let dates = if let Some(single) = schedule.get("single") {
        let date = parse_date(&single["date"], "schedule.single.date")?;
        if date > today + Days::new(SINGLE_MAX_DAYS) {
            return Err(violation(
                DATA_PAGAMENTO_INVALIDA,
                "schedule.single.date is more than 730 days ahead",
            ));
        }
        vec![date]
    } else if let Some(daily) = schedule.get("daily") {
        let start = parse_date(&daily["startDate"], "schedule.daily.startDate")?;
        let n = quantity(&daily["quantity"], "schedule.daily.quantity", 60)?;
        (0..n as u64).map(|i| start + Days::new(i)).collect()
    } else if let Some(weekly) = schedule.get("weekly") {
        let start = parse_date(&weekly["startDate"], "schedule.weekly.startDate")?;
        let n = quantity(&weekly["quantity"], "schedule.weekly.quantity", 60)?;
        let day = weekly["dayOfWeek"]
            .as_str()
            .and_then(weekday)
            .ok_or_else(|| violation(PARAMETRO_INVALIDO, "schedule.weekly.dayOfWeek"))?;
        let ahead = (7 + day.num_days_from_monday() - start.weekday().num_days_from_monday()) % 7;
        let first = start + Days::new(ahead as u64);
        (0..n as u64).map(|i| first + Days::new(7 * i)).collect()
    } else if let Some(monthly) = schedule.get("monthly") {
        let start = parse_date(&monthly["startDate"], "schedule.monthly.startDate")?;
        let n = quantity(&monthly["quantity"], "schedule.monthly.quantity", 24)?;
        let day = monthly["dayOfMonth"]
            .as_u64()
            .filter(|d| (1..=31).contains(d))
            .ok_or_else(|| violation(PARAMETRO_INVALIDO, "schedule.monthly.dayOfMonth"))?
            as u32;
        monthly_dates(start, day, n)
    } else if let Some(custom) = schedule.get("custom") {
        let dates = custom["dates"]
            .as_array()
            .ok_or_else(|| violation(PARAMETRO_NAO_INFORMADO, "schedule.custom.dates"))?;
        if !(2..=MAX_PAYMENTS).contains(&dates.len()) {
            return Err(violation(
                PARAMETRO_INVALIDO,
                "schedule.custom.dates: quantity outside 2..=60",
            ));
        }
        let mut out = dates
            .iter()
            .map(|d| parse_date(d, "schedule.custom.dates"))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort();
        out
    } else {
        return Err(violation(PARAMETRO_INVALIDO, "schedule: unknown kind"));
    };
    if dates.len() > MAX_PAYMENTS {
        return Err(violation(
            PARAMETRO_INVALIDO,
            "more payments than the 60 a schedule may make",
        ));
    }
    if dates.windows(2).any(|w| w[0] == w[1]) {
        return Err(violation(DATA_PAGAMENTO_INVALIDA, "a date repeats"));
    }
    if dates.iter().any(|d| *d <= today) {
        return Err(violation(
            DATA_PAGAMENTO_INVALIDA,
            "scheduled dates start tomorrow",
        ));
    }
    if dates.len() > 1
        && dates
            .last()
            .is_some_and(|last| *last > today + Days::new(RECURRENCE_MAX_DAYS))
    {
        return Err(violation(
            DATA_PAGAMENTO_INVALIDA,
            "a recurrence ends within two years",
        ));
    }
    Ok(dates)
}

/// `n` monthly dates on `day` from `start`'s month (or the next, when `start` is past `day`);
/// a month without `day` pays on the first of the next.
fn monthly_dates(start: NaiveDate, day: u32, n: usize) -> Vec<NaiveDate> {
    let first_month = NaiveDate::from_ymd_opt(start.year(), start.month(), 1).unwrap_or(start);
    let mut out = Vec::with_capacity(n);
    let mut offset = 0u32;
    while out.len() < n {
        let month = first_month + Months::new(offset);
        offset += 1;
        let date = NaiveDate::from_ymd_opt(month.year(), month.month(), day)
            .unwrap_or_else(|| month + Months::new(1));
        if date >= start {
            out.push(date);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const TODAY: &str = "2026-01-30";

    fn consent(payment: Value) -> Value {
        json!({
            "creditor": { "personType": "PESSOA_NATURAL", "cpfCnpj": "12345678901", "name": "X" },
            "payment": payment,
        })
    }

    fn immediate(details: Value) -> Value {
        json!({ "type": "PIX", "date": TODAY, "currency": "BRL", "amount": "10.00",
                "details": details })
    }

    fn manu() -> Value {
        json!({ "localInstrument": "MANU",
                "creditorAccount": { "ispb": "12345678", "issuer": "1774", "number": "1234567890", "accountType": "CACC" } })
    }

    fn code(r: Result<Vec<NaiveDate>, Violation>) -> &'static str {
        r.unwrap_err().code
    }

    #[test]
    fn an_immediate_payment_is_today_and_its_details_fit_the_instrument() {
        let today = day(TODAY);
        assert_eq!(
            check_consent(&consent(immediate(manu())), today).unwrap(),
            [today]
        );
        let mut tomorrow = immediate(manu());
        tomorrow["date"] = json!("2026-01-31");
        assert_eq!(
            code(check_consent(&consent(tomorrow), today)),
            DATA_PAGAMENTO_INVALIDA
        );
        let mut with_proxy = manu();
        with_proxy["proxy"] = json!("a@b.com");
        assert_eq!(
            code(check_consent(&consent(immediate(with_proxy)), today)),
            DETALHE_PAGAMENTO_INVALIDO
        );
        let mut dict = manu();
        dict["localInstrument"] = json!("DICT");
        assert_eq!(
            code(check_consent(&consent(immediate(dict.clone())), today)),
            PARAMETRO_NAO_INFORMADO
        );
        dict["proxy"] = json!("a@b.com");
        assert!(check_consent(&consent(immediate(dict.clone())), today).is_ok());
        dict["qrCode"] = json!("000201");
        assert_eq!(
            code(check_consent(&consent(immediate(dict)), today)),
            DETALHE_PAGAMENTO_INVALIDO
        );
        let mut qres = manu();
        qres["localInstrument"] = json!("QRES");
        qres["proxy"] = json!("a@b.com");
        assert_eq!(
            code(check_consent(&consent(immediate(qres)), today)),
            PARAMETRO_NAO_INFORMADO
        );
    }

    #[test]
    fn creditor_currency_and_exclusive_fields() {
        let today = day(TODAY);
        let mut c = consent(immediate(manu()));
        c["creditor"]["personType"] = json!("PESSOA_JURIDICA");
        assert_eq!(code(check_consent(&c, today)), PARAMETRO_INVALIDO);
        let mut p = immediate(manu());
        p["currency"] = json!("USD");
        assert_eq!(code(check_consent(&consent(p), today)), PARAMETRO_INVALIDO);
        let mut both = immediate(manu());
        both["schedule"] = json!({ "single": { "date": "2026-02-10" } });
        assert_eq!(
            code(check_consent(&consent(both), today)),
            PARAMETRO_INVALIDO
        );
        let mut neither = immediate(manu());
        neither.as_object_mut().unwrap().remove("date");
        assert_eq!(
            code(check_consent(&consent(neither), today)),
            PARAMETRO_NAO_INFORMADO
        );
        let mut same = consent(immediate(manu()));
        same["debtorAccount"] = manu()["creditorAccount"].clone();
        assert_eq!(
            code(check_consent(&same, today)),
            DETALHE_PAGAMENTO_INVALIDO
        );
    }

    #[test]
    fn schedules_make_their_dates_within_the_limits() {
        let today = day(TODAY);
        let single = |d: &str| json!({ "single": { "date": d } });
        assert_eq!(
            schedule_dates(&single("2026-01-31"), today).unwrap(),
            [day("2026-01-31")]
        );
        assert_eq!(
            schedule_dates(&single(TODAY), today).unwrap_err().code,
            DATA_PAGAMENTO_INVALIDA
        );
        assert!(schedule_dates(&single("2028-01-30"), today).is_ok());
        assert_eq!(
            schedule_dates(&single("2028-01-31"), today)
                .unwrap_err()
                .code,
            DATA_PAGAMENTO_INVALIDA
        );
        let daily = json!({ "daily": { "startDate": "2026-02-01", "quantity": 3 } });
        assert_eq!(
            schedule_dates(&daily, today).unwrap(),
            [day("2026-02-01"), day("2026-02-02"), day("2026-02-03")]
        );
        let too_many = json!({ "daily": { "startDate": "2026-02-01", "quantity": 61 } });
        assert_eq!(
            schedule_dates(&too_many, today).unwrap_err().code,
            PARAMETRO_INVALIDO
        );
        // 2026-02-02 is a Monday.
        let weekly = json!({ "weekly": { "dayOfWeek": "QUARTA_FEIRA", "startDate": "2026-02-02", "quantity": 2 } });
        assert_eq!(
            schedule_dates(&weekly, today).unwrap(),
            [day("2026-02-04"), day("2026-02-11")]
        );
        // The 31st of a 30-day month pays on the first of the next.
        let monthly =
            json!({ "monthly": { "dayOfMonth": 31, "startDate": "2026-03-01", "quantity": 3 } });
        assert_eq!(
            schedule_dates(&monthly, today).unwrap(),
            [day("2026-03-31"), day("2026-05-01"), day("2026-05-31")]
        );
        let long =
            json!({ "monthly": { "dayOfMonth": 5, "startDate": "2027-06-01", "quantity": 24 } });
        assert_eq!(
            schedule_dates(&long, today).unwrap_err().code,
            DATA_PAGAMENTO_INVALIDA
        );
        let twice = json!({ "custom": { "dates": ["2026-02-01", "2026-02-01"], "additionalInformation": "x" } });
        assert_eq!(
            schedule_dates(&twice, today).unwrap_err().code,
            DATA_PAGAMENTO_INVALIDA
        );
    }
}
