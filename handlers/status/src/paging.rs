//! Pagination as the OFB conventions put it (requirements §4): `page` from 1, `page-size`
//! 1..1000 (default 25); `links.self` always, `first`/`prev` off the first page, `next`/`last`
//! before the last; `meta.totalPages` is 0 when there is nothing. The generated parameter
//! types have already refused values outside the spec's bounds.

/// A requested page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

/// The links of one page, before they become a generated `Links`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageLinks {
    pub self_: String,
    pub first: Option<String>,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub last: Option<String>,
}

/// One page of items, with what the response's links and meta need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub links: PageLinks,
    pub total_records: i64,
    pub total_pages: i64,
}

impl Page {
    pub const DEFAULT_SIZE: u64 = 25;
    pub const MAX_SIZE: u64 = 1_000;

    pub fn new(number: Option<i32>, size: Option<i32>) -> Self {
        let number = number.map_or(1, |n| u64::try_from(n).unwrap_or(1)).max(1);
        let size = size
            .map_or(Self::DEFAULT_SIZE, |s| u64::try_from(s).unwrap_or(1))
            .clamp(1, Self::MAX_SIZE);
        Self { number, size }
    }

    /// This page of `items`, linked under `base` (a URL without query); `query` holds the
    /// other parameters to repeat in every link (`period=ALL`), or is empty.
    pub fn of<T>(self, items: Vec<T>, base: &str, query: &str) -> Paged<T> {
        let total = items.len() as u64;
        let total_pages = total.div_ceil(self.size);
        let skip = (self.number - 1).saturating_mul(self.size);
        let items: Vec<T> = items
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(usize::try_from(self.size).unwrap_or(usize::MAX))
            .collect();
        let link = |page: u64| {
            let extra = if query.is_empty() {
                String::new()
            } else {
                format!("&{query}")
            };
            format!("{base}?page={page}&page-size={}{extra}", self.size)
        };
        let before = self.number > 1;
        let after = self.number < total_pages;
        Paged {
            items,
            links: PageLinks {
                self_: link(self.number),
                first: before.then(|| link(1)),
                prev: before.then(|| link((self.number - 1).min(total_pages).max(1))),
                next: after.then(|| link(self.number + 1)),
                last: after.then(|| link(total_pages)),
            },
            total_records: i64::try_from(total).unwrap_or(i64::MAX),
            total_pages: i64::try_from(total_pages).unwrap_or(i64::MAX),
        }
    }
}

/// The public base of a request: `https://<authority>`.
pub fn origin(authority: Option<&str>) -> String {
    format!("https://{}", authority.unwrap_or("localhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_links() {
        let page = Page::new(Some(2), Some(2)).of((1..=5).collect(), "https://b/x", "period=ALL");
        assert_eq!(page.items, vec![3, 4]);
        assert_eq!((page.total_records, page.total_pages), (5, 3));
        assert_eq!(
            page.links.self_,
            "https://b/x?page=2&page-size=2&period=ALL"
        );
        assert_eq!(
            page.links.prev.as_deref(),
            Some("https://b/x?page=1&page-size=2&period=ALL")
        );
        assert_eq!(
            page.links.last.as_deref(),
            Some("https://b/x?page=3&page-size=2&period=ALL")
        );

        let empty = Page::new(None, None).of(Vec::<u8>::new(), "https://b/x", "");
        assert_eq!((empty.total_records, empty.total_pages), (0, 0));
        assert_eq!(
            empty.links,
            PageLinks {
                self_: "https://b/x?page=1&page-size=25".into(),
                ..PageLinks::default()
            }
        );

        let beyond = Page::new(Some(9), Some(25)).of(vec![1], "https://b/x", "");
        assert!(beyond.items.is_empty());
        assert_eq!(
            beyond.links.prev.as_deref(),
            Some("https://b/x?page=1&page-size=25")
        );
        assert_eq!(beyond.links.next, None);
    }
}
