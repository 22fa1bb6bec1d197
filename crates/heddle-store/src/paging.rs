//! Keyset pagination shared by both engines: rows ordered by id ascending, strictly after the
//! cursor, fetching one row more than asked to learn whether another page exists. Newest-first
//! lists order by id descending and take rows strictly before the cursor instead.

use heddle_types::{MAX_PAGE_LIMIT, Page, PageRequest};
use uuid::Uuid;

/// How many rows to fetch for `page`: its limit, clamped to `1..=MAX_PAGE_LIMIT`, plus one.
pub(crate) fn fetch_limit(page: PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, MAX_PAGE_LIMIT)) + 1
}

/// Cuts the extra row off and sets `next_cursor` to the last returned id when it existed.
pub(crate) fn into_page<T>(
    mut items: Vec<T>,
    page: PageRequest,
    id_of: impl Fn(&T) -> Uuid,
) -> Page<T> {
    let limit = usize::try_from(page.limit.clamp(1, MAX_PAGE_LIMIT)).unwrap_or(usize::MAX);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(id_of)
    } else {
        None
    };
    Page { items, next_cursor }
}
