//! Pagination of the data APIs (requirements §4): `page` and `page-size` in, `links` and
//! `meta` out. Links are absolute, on the host the caller addressed, and repeat the caller's
//! other query parameters.

use std::fmt::Write;

use aberta_runtime::RequestContext;
use aberta_runtime::connector::{ConnectorError, Page, PageRequest};
use aberta_runtime::error_body::now;
use aberta_runtime::shared::{Links, Meta, MetaSingle};

use crate::refusal::Refusal;

pub const DEFAULT_PAGE_SIZE: u32 = 25;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The page coordinates of a request; out-of-range values answer 422.
pub fn page_request(page: Option<i32>, page_size: Option<i32>) -> Result<PageRequest, Refusal> {
    let page = match page {
        None => 1,
        Some(p) if p >= 1 => p as u32,
        Some(_) => return Err(Refusal::invalid("page must be 1 or more")),
    };
    let page_size = match page_size {
        None => DEFAULT_PAGE_SIZE,
        Some(s) if (1..=MAX_PAGE_SIZE as i32).contains(&s) => s as u32,
        Some(_) => {
            return Err(Refusal::invalid(format!(
                "page-size must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
    };
    Ok(PageRequest { page, page_size })
}

/// Pages needed for `total` records; 0 when there are none.
pub fn total_pages(total: u64, page_size: u32) -> u32 {
    let size = u64::from(page_size.max(1));
    u32::try_from(total.div_ceil(size)).unwrap_or(u32::MAX)
}

/// `meta` of a paginated response.
pub fn meta(total_records: u64, page_size: u32) -> Meta {
    Meta {
        total_records: i32::try_from(total_records).unwrap_or(i32::MAX),
        total_pages: i32::try_from(total_pages(total_records, page_size)).unwrap_or(i32::MAX),
        request_date_time: now(),
    }
}

/// `meta` of a single-record response in APIs whose schema is the paginated one.
pub fn meta_one() -> Meta {
    meta(1, 1)
}

pub fn meta_single() -> MetaSingle {
    MetaSingle {
        request_date_time: now(),
    }
}

/// Where the links point: the API's base path and the concrete path of this request, plus
/// the caller's query parameters other than the page ones.
pub struct LinkBase<'a> {
    pub base_path: &'static str,
    pub path: &'a str,
    pub query: &'a [(&'static str, Option<String>)],
}

impl LinkBase<'_> {
    fn prefix(&self, ctx: &RequestContext) -> String {
        let authority = ctx.authority.as_deref().unwrap_or("localhost");
        let mut url = String::with_capacity(
            8 + authority.len() + self.base_path.len() + self.path.len() + 48,
        );
        url.push_str("https://");
        url.push_str(authority);
        url.push_str(self.base_path);
        url.push_str(self.path);
        url
    }

    /// The link of a non-paginated response.
    pub fn self_link(&self, ctx: &RequestContext) -> String {
        let mut url = self.prefix(ctx);
        let mut sep = '?';
        for (name, value) in self.query {
            if let Some(value) = value {
                push_param(&mut url, &mut sep, name, value);
            }
        }
        url
    }

    /// `self` always; `first`/`prev` off the first page; `next`/`last` off the last page.
    pub fn links(&self, ctx: &RequestContext, page: PageRequest, total_records: u64) -> Links {
        let prefix = self.prefix(ctx);
        let last = total_pages(total_records, page.page_size).max(1);
        let at = |n: u32| {
            let mut url = prefix.clone();
            let mut sep = '?';
            for (name, value) in self.query {
                if let Some(value) = value {
                    push_param(&mut url, &mut sep, name, value);
                }
            }
            push_param(&mut url, &mut sep, "page", &n.to_string());
            push_param(&mut url, &mut sep, "page-size", &page.page_size.to_string());
            url
        };
        let not_first = page.page > 1;
        let not_last = page.page < last;
        Links {
            self_: at(page.page),
            first: not_first.then(|| at(1)),
            prev: not_first.then(|| at((page.page - 1).min(last))),
            next: not_last.then(|| at(page.page + 1)),
            last: not_last.then(|| at(last)),
        }
    }
}

fn push_param(url: &mut String, sep: &mut char, name: &str, value: &str) {
    url.push(*sep);
    *sep = '&';
    url.push_str(name);
    url.push('=');
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            url.push(b as char);
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
}

/// The bank's page of a list whose schema wants at least one record (`minItems: 1` on
/// `data`: the customers identifications), refused when it holds none, since `data: []` would
/// break the schema. A page past the last answers 422 `PARAMETRO_INVALIDO`, as a `page` below
/// 1 does; a list with no record at all is 404; an empty page the bank counts records for is
/// the bank's failure. As errors of the bank's answer, they give back the operational-limit
/// unit like any unanswered call.
pub fn with_records<T>(got: Page<T>, page: PageRequest) -> Result<Page<T>, ConnectorError> {
    if !got.items.is_empty() {
        return Ok(got);
    }
    let last = total_pages(got.total_records, page.page_size);
    if last == 0 {
        return Err(ConnectorError::NotFound);
    }
    if page.page > last {
        return Err(ConnectorError::Refused {
            code: crate::refusal::code::INVALID_PARAMETER.to_string(),
            detail: format!("page {} is past the last page, {last}", page.page),
        });
    }
    Err(ConnectorError::Backend(format!(
        "page {} of {last} came back empty",
        page.page
    )))
}

/// The records of `page` out of everything, for lists the platform filters itself.
pub fn slice<T>(mut items: Vec<T>, page: PageRequest) -> Vec<T> {
    let start = (page.page as usize - 1).saturating_mul(page.page_size as usize);
    if start >= items.len() {
        return Vec::new();
    }
    items.drain(..start);
    items.truncate(page.page_size as usize);
    items
}

/// A generated links type built from the full set.
pub trait FromLinks {
    fn from_links(links: Links) -> Self;
}

impl FromLinks for Links {
    fn from_links(links: Links) -> Self {
        links
    }
}

/// Generated links types: those with all five links, those without `last`, and the
/// single-resource ones with `self` alone.
macro_rules! links_types {
    (full: $($full:ty),* ; no_last: $($nolast:ty),* ; single: $($single:ty),*) => {
        $(impl FromLinks for $full {
            fn from_links(l: Links) -> Self {
                Self { self_: l.self_, first: l.first, prev: l.prev, next: l.next, last: l.last }
            }
        })*
        $(impl FromLinks for $nolast {
            fn from_links(l: Links) -> Self {
                Self { self_: l.self_, first: l.first, prev: l.prev, next: l.next }
            }
        })*
        $(impl FromLinks for $single {
            fn from_links(l: Links) -> Self {
                Self { self_: l.self_ }
            }
        })*
    };
}

links_types!(
    full:
        ofb_credit_cards_v2::models::Links,
        ofb_loans_v2::models::Links,
        ofb_financings_v2::models::Links,
        ofb_invoice_financings_v2::models::Links,
        ofb_unarranged_accounts_overdraft_v2::models::Links;
    no_last:
        ofb_accounts_v2::models::TransactionsLinks,
        ofb_credit_cards_v2::models::TransactionsLinks;
    single:
        ofb_loans_v2::models::LinksNonPaginated,
        ofb_financings_v2::models::LinksSingle,
        ofb_invoice_financings_v2::models::LinksSingle,
        ofb_unarranged_accounts_overdraft_v2::models::LinksSingle
);

/// A generated `meta` type built from the paginated one.
pub trait FromMeta {
    fn from_meta(meta: Meta) -> Self;
}

impl FromMeta for Meta {
    fn from_meta(meta: Meta) -> Self {
        meta
    }
}

impl FromMeta for MetaSingle {
    fn from_meta(meta: Meta) -> Self {
        MetaSingle {
            request_date_time: meta.request_date_time,
        }
    }
}

impl FromMeta for ofb_resources_v3::models::MetaResponse {
    fn from_meta(meta: Meta) -> Self {
        Self {
            request_date_time: meta.request_date_time,
            total_records: meta.total_records,
            total_pages: meta.total_pages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext {
            authority: Some("bank.example".to_string()),
            ..RequestContext::default()
        }
    }

    fn base<'a>(query: &'a [(&'static str, Option<String>)]) -> LinkBase<'a> {
        LinkBase {
            base_path: "/open-banking/accounts/v2",
            path: "/accounts/a1/transactions",
            query,
        }
    }

    const URL: &str = "https://bank.example/open-banking/accounts/v2/accounts/a1/transactions";

    #[test]
    fn defaults_and_limits() {
        assert_eq!(
            page_request(None, None).unwrap(),
            PageRequest {
                page: 1,
                page_size: 25
            }
        );
        assert_eq!(page_request(Some(3), Some(1000)).unwrap().page_size, 1000);
        let refused = page_request(Some(1), Some(1001)).unwrap_err();
        assert_eq!(refused.status, 422);
        assert_eq!(page_request(Some(0), None).unwrap_err().status, 422);
        assert_eq!(page_request(None, Some(0)).unwrap_err().status, 422);
    }

    #[test]
    fn first_page_has_next_and_last_only() {
        let page = PageRequest {
            page: 1,
            page_size: 10,
        };
        let links = base(&[]).links(&ctx(), page, 35);
        assert_eq!(links.self_, format!("{URL}?page=1&page-size=10"));
        assert_eq!(links.first, None);
        assert_eq!(links.prev, None);
        assert_eq!(links.next, Some(format!("{URL}?page=2&page-size=10")));
        assert_eq!(links.last, Some(format!("{URL}?page=4&page-size=10")));
        let meta = meta(35, 10);
        assert_eq!((meta.total_records, meta.total_pages), (35, 4));
    }

    #[test]
    fn middle_page_has_all_links_and_keeps_filters() {
        let query = [
            ("fromBookingDate", Some("2024-01-01".to_string())),
            ("toBookingDate", None),
            ("pagination-key", Some("a b".to_string())),
        ];
        let page = PageRequest {
            page: 2,
            page_size: 10,
        };
        let links = base(&query).links(&ctx(), page, 35);
        let q = "fromBookingDate=2024-01-01&pagination-key=a%20b";
        assert_eq!(links.self_, format!("{URL}?{q}&page=2&page-size=10"));
        assert_eq!(links.first, Some(format!("{URL}?{q}&page=1&page-size=10")));
        assert_eq!(links.prev, Some(format!("{URL}?{q}&page=1&page-size=10")));
        assert_eq!(links.next, Some(format!("{URL}?{q}&page=3&page-size=10")));
        assert_eq!(links.last, Some(format!("{URL}?{q}&page=4&page-size=10")));
    }

    #[test]
    fn last_page_has_first_and_prev_only() {
        let page = PageRequest {
            page: 4,
            page_size: 10,
        };
        let links = base(&[]).links(&ctx(), page, 35);
        assert_eq!(links.first, Some(format!("{URL}?page=1&page-size=10")));
        assert_eq!(links.prev, Some(format!("{URL}?page=3&page-size=10")));
        assert_eq!(links.next, None);
        assert_eq!(links.last, None);
    }

    #[test]
    fn empty_result_has_self_only_and_zero_pages() {
        let page = PageRequest {
            page: 1,
            page_size: 25,
        };
        let links = base(&[]).links(&ctx(), page, 0);
        assert_eq!(links.self_, format!("{URL}?page=1&page-size=25"));
        assert!(links.first.is_none() && links.prev.is_none());
        assert!(links.next.is_none() && links.last.is_none());
        let meta = meta(0, 25);
        assert_eq!((meta.total_records, meta.total_pages), (0, 0));
    }

    #[test]
    fn a_list_that_needs_records_refuses_an_empty_page() {
        let at = |page| PageRequest { page, page_size: 1 };
        let page = |items: Vec<u32>, total_records| Page {
            items,
            total_records,
        };
        // One identification record: page 1 has it; page 2 is past the last.
        assert_eq!(with_records(page(vec![7], 1), at(1)).unwrap().items, [7]);
        let past = with_records(page(vec![], 1), at(2)).unwrap_err();
        let refusal = Refusal::from_connector(&past);
        assert_eq!(
            (refusal.status, refusal.code.as_ref()),
            (422, "PARAMETRO_INVALIDO")
        );
        assert!(
            refusal.detail.contains("past the last page, 1"),
            "{refusal:?}"
        );
        // No record at all, on any page.
        for n in [1, 3] {
            let none = with_records(page(Vec::<u32>::new(), 0), at(n)).unwrap_err();
            assert_eq!(Refusal::from_connector(&none).status, 404);
        }
        // A bank that counts three records and gives none for page 2.
        let odd = with_records(page(Vec::<u32>::new(), 3), at(2)).unwrap_err();
        assert_eq!(Refusal::from_connector(&odd).status, 500);
    }

    #[test]
    fn local_slices() {
        let items: Vec<u32> = (0..35).collect();
        let page = |page| PageRequest {
            page,
            page_size: 10,
        };
        assert_eq!(slice(items.clone(), page(1)), (0..10).collect::<Vec<_>>());
        assert_eq!(slice(items.clone(), page(4)), (30..35).collect::<Vec<_>>());
        assert!(slice(items, page(5)).is_empty());
    }
}
