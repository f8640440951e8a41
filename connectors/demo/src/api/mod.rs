//! One module per API: each implements the generated connector trait over [`crate::access`]
//! and [`crate::storage`].

mod accounts;
mod contracts;
mod credit_cards;
mod customers;
mod financings;
mod invoice_financings;
mod loans;
mod payments;
mod resources;
mod unarranged;

use aberta_runtime::connector::ConnectorError;

use crate::dates;

/// The oldest day the `-current` endpoints serve (D-6), and the furthest ahead any list goes.
const CURRENT_OLDEST: i32 = -6;
const FURTHEST_AHEAD: i32 = 366;

/// The day-offset window of a date filter. Per the specs, a missing bound means today; for a
/// bill's transactions (`today_by_default == false`) no bounds means the whole bill.
fn window(
    from: Option<&str>,
    to: Option<&str>,
    today_by_default: bool,
) -> Result<Option<(i32, i32)>, ConnectorError> {
    let parse = |text: &str| {
        dates::parse_offset(text).ok_or_else(|| ConnectorError::Refused {
            code: "PARAMETRO_INVALIDO".to_string(),
            detail: "a date filter is not a calendar date".to_string(),
        })
    };
    let from = from.map(parse).transpose()?;
    let to = to.map(parse).transpose()?;
    Ok(match (from, to) {
        (None, None) if !today_by_default => None,
        (None, None) => Some((0, 0)),
        (Some(from), None) => Some((from, from.max(0))),
        (None, Some(to)) => Some((to.min(0), to)),
        (Some(from), Some(to)) => Some((from, to)),
    })
}

/// The window of a `-current` endpoint: what was asked, never older than D-6.
fn current_window(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Option<(i32, i32)>, ConnectorError> {
    Ok(
        window(from, to, true)?
            .map(|(from, to)| (from.max(CURRENT_OLDEST), to.min(FURTHEST_AHEAD))),
    )
}
