//! Knowledge and messages (write and list), the skills list, and the changes feed.

use std::time::Duration;

use openpact_ledger::keys::{is_api_id, is_handle};
use openpact_ledger::view::read::{
    EntryView, ListFilter, ListQuery, Order, Page, format_list_cursor,
};
use openpact_ledger::view::{Kind, SkillFormat};
use openpact_ledger::wire::{self, op::Op};
use openpact_ledger::{Code, ViewReader};
use openpact_proto::v1;

use super::OpenPact;
use crate::convert;
use crate::error::{ApiError, Result};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page.
pub const MAX_LIMIT: usize = 1000;
/// Rows a filtered list reads at most for one page before answering with what it found.
const FILTER_SCAN_BUDGET: usize = 10_000;
/// Longest long-poll of the changes feed.
pub const MAX_CHANGES_WAIT_MS: u32 = 30_000;

/// Page size from a request: 0 is the default; above the maximum is refused.
pub fn limit_of(limit: u32) -> Result<usize> {
    match limit as usize {
        0 => Ok(DEFAULT_LIMIT),
        n if n <= MAX_LIMIT => Ok(n),
        n => Err(ApiError::bad_request(format!(
            "limit must be <= {MAX_LIMIT} (got {n})"
        ))),
    }
}

fn page_query(kind: Kind, page: Option<&v1::PageRequest>) -> Result<ListQuery> {
    let mut q = ListQuery::new(kind);
    if let Some(p) = page {
        q.order = match v1::Order::try_from(p.order) {
            Ok(v1::Order::Asc) => Order::Asc,
            Ok(v1::Order::Desc) => Order::Desc,
            Err(_) => return Err(ApiError::bad_request("order must be asc or desc")),
        };
        q.limit = limit_of(p.limit)?;
        if let Some(c) = &p.cursor {
            if c.is_empty() || c.len() > 512 {
                return Err(ApiError::bad_request(
                    "cursor must be 1 to 512 characters long",
                ));
            }
            q.cursor = Some(c.clone());
        }
    }
    Ok(q)
}

fn entry_page(page: Page<EntryView>, r: &ViewReader) -> Result<v1::EntryPage> {
    Ok(v1::EntryPage {
        entries: page
            .items
            .iter()
            .map(|e| convert::entry(e, r))
            .collect::<Result<_>>()?,
        cursor: page.cursor,
        has_more: page.has_more,
    })
}

/// The cursor the ledger gives a row of `q`'s kind.
fn cursor_of(q: &ListQuery, e: &EntryView) -> String {
    format_list_cursor(q.kind, e.position, &e.api_id)
}

/// Reads pages of `q` until `limit` rows pass `keep`, the index ends, or the scan budget runs
/// out. `has_more` is exact unless the budget ran out (then it is true, with the cursor at the
/// last row read, so the next page goes on from there).
fn filtered(
    r: &ViewReader,
    mut q: ListQuery,
    keep: impl Fn(&EntryView) -> bool,
) -> Result<Page<EntryView>> {
    let limit = q.limit;
    let mut items: Vec<EntryView> = Vec::with_capacity(limit);
    let mut scanned = 0usize;
    loop {
        q.limit = (limit + 1).min(MAX_LIMIT);
        let page = r.list(&q)?;
        scanned += page.items.len();
        let mut last_cursor = None;
        for e in page.items {
            let cursor = cursor_of(&q, &e);
            if keep(&e) {
                if items.len() == limit {
                    // One more match exists past the page.
                    let cursor = items.last().map(|x| cursor_of(&q, x));
                    return Ok(Page {
                        items,
                        cursor,
                        has_more: true,
                    });
                }
                items.push(e);
            }
            last_cursor = Some(cursor);
        }
        if !page.has_more {
            let cursor = items.last().map(|x| cursor_of(&q, x));
            return Ok(Page {
                items,
                cursor,
                has_more: false,
            });
        }
        if scanned >= FILTER_SCAN_BUDGET {
            return Ok(Page {
                items,
                cursor: last_cursor,
                has_more: true,
            });
        }
        q.cursor = last_cursor;
    }
}

/// `s` is empty, or a JSON object; an empty object becomes empty.
pub(crate) fn check_json_object(field: &str, s: &str) -> Result<String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) if m.is_empty() => Ok(String::new()),
        Ok(serde_json::Value::Object(_)) => Ok(s.to_string()),
        _ => Err(ApiError::bad_request(format!(
            "{field} must be a JSON object"
        ))),
    }
}

/// `s` has `min..=max` characters.
pub(crate) fn check_chars(field: &str, s: &str, min: usize, max: usize) -> Result<()> {
    let n = s.chars().count();
    if n < min {
        return Err(ApiError::bad_request(if min == 1 {
            format!("{field} must not be empty")
        } else {
            format!("{field} must be at least {min} characters")
        }));
    }
    if n > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(())
}

impl OpenPact {
    /// Records a piece of knowledge.
    pub async fn create_knowledge(&self, req: v1::CreateKnowledgeRequest) -> Result<v1::Entry> {
        check_chars("topic", &req.topic, 1, 200)?;
        check_chars("content", &req.content, 1, usize::MAX)?;
        let extra_json = check_json_object("extra_json", &req.extra_json)?;
        self.append_entry(Op::Knowledge(wire::Knowledge {
            topic: req.topic,
            content: req.content,
            source: req.source,
            extra_json,
        }))
        .await
    }

    /// Lists knowledge, optionally of one topic.
    pub fn list_knowledge(&self, req: &v1::ListKnowledgeRequest) -> Result<v1::EntryPage> {
        let mut q = page_query(Kind::Knowledge, req.page.as_ref())?;
        if let Some(t) = &req.topic {
            q.filter = ListFilter::Topic(t.clone());
        }
        let r = self.reader()?;
        entry_page(r.list(&q)?, &r)
    }

    /// Posts a message (to everyone, or to one handle).
    pub async fn post_message(&self, req: v1::PostMessageRequest) -> Result<v1::Entry> {
        check_chars("content", &req.content, 1, usize::MAX)?;
        if let Some(p) = &req.priority
            && !matches!(p.as_str(), "low" | "normal" | "high")
        {
            return Err(ApiError::bad_request(format!(
                "unknown priority {p}: use low, normal or high"
            )));
        }
        if let Some(id) = &req.reply_to
            && !is_api_id(id)
        {
            return Err(ApiError::bad_request(format!(
                "reply_to must be an entry id like a7f2bcde-412 (got {id})"
            )));
        }
        let to = match req.to.as_deref() {
            None | Some("*") | Some("") => None,
            Some(h) if is_handle(h) => Some(h.to_string()),
            Some(h) => {
                return Err(ApiError::bad_request(format!(
                    "to must be an agent handle like anon-falcon-7f2d9999, or * (got {h})"
                )));
            }
        };
        self.append_entry(Op::Message(wire::Message {
            content: req.content,
            priority: req.priority,
            to,
            reply_to: req.reply_to,
            kind: None,
            system_json: String::new(),
        }))
        .await
    }

    /// Lists messages, optionally by author, recipient, and written after a time.
    pub fn list_messages(&self, req: &v1::ListMessagesRequest) -> Result<v1::EntryPage> {
        let mut q = page_query(Kind::Message, req.page.as_ref())?;
        let r = self.reader()?;
        let author = match &req.agent_id {
            None => None,
            Some(h) if !is_handle(h) => {
                return Err(ApiError::bad_request(format!(
                    "agent_id must be an agent handle like anon-falcon-7f2d9999 (got {h})"
                )));
            }
            Some(h) => match r.members()?.into_iter().find(|m| &m.handle == h) {
                Some(m) => Some(m.key),
                None => return Ok(v1::EntryPage::default()),
            },
        };
        let to = req.to.clone().filter(|t| !t.is_empty());
        if let Some(t) = &to
            && t != "*"
            && !is_handle(t)
        {
            return Err(ApiError::bad_request(format!(
                "to must be an agent handle or * (got {t})"
            )));
        }
        let since = req.since_ms;
        match (author, &to) {
            (Some(a), _) => q.filter = ListFilter::Author(a),
            (None, Some(t)) => q.filter = ListFilter::Recipient(t.clone()),
            (None, None) => {}
        }
        // With both an author and a recipient, the author index is walked and `to` filtered.
        let post_to = author.and(to);
        if since.is_none() && post_to.is_none() {
            return entry_page(r.list(&q)?, &r);
        }
        let page = filtered(&r, q, |e| {
            since.is_none_or(|s| e.time_ms > s)
                && post_to.as_ref().is_none_or(|t| recipient(e) == *t)
        })?;
        entry_page(page, &r)
    }

    /// Lists skills, optionally of one format.
    pub fn list_skills(&self, req: &v1::ListSkillsRequest) -> Result<v1::EntryPage> {
        let mut q = page_query(Kind::Skill, req.page.as_ref())?;
        if let Some(f) = &req.format {
            let format = SkillFormat::from_name(f).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown format {f}: use openclaw, langchain or generic"
                ))
            })?;
            q.filter = ListFilter::Format(format);
        }
        let r = self.reader()?;
        entry_page(r.list(&q)?, &r)
    }

    /// The changes feed: applied entries in this peer's arrival order, long-polling when empty.
    pub async fn changes(&self, req: &v1::ChangesRequest) -> Result<v1::ChangesResponse> {
        let after = match &req.since {
            None => None,
            Some(c) => Some(parse_changes_cursor(c)?),
        };
        let kind = match req.r#type {
            None => None,
            Some(t) => Some(
                v1::EntryType::try_from(t)
                    .ok()
                    .and_then(convert::kind_of)
                    .ok_or_else(|| {
                        ApiError::bad_request("type must be one of knowledge, task, skill, message")
                    })?,
            ),
        };
        if req.from_head {
            // The newest arrival is a resume point for every kind (nothing of `kind` arrived
            // after its own newest entry); the id part names the newest entry of that kind.
            let r = self.reader()?;
            let cursor = match r.head_arrival(kind)? {
                None => None,
                Some(a) => {
                    let newest = match kind {
                        Some(k) => {
                            let mut q = ListQuery::new(k);
                            q.limit = 1;
                            r.list(&q)?.items.into_iter().next().map(|e| e.api_id)
                        }
                        None => r
                            .changes(a.checked_sub(1), 1, None)?
                            .items
                            .into_iter()
                            .next()
                            .map(|c| c.entry.api_id),
                    };
                    Some(format!("{a}|{}", newest.unwrap_or_default()))
                }
            };
            return Ok(v1::ChangesResponse {
                entries: Vec::new(),
                cursor,
                has_more: false,
            });
        }
        let limit = limit_of(req.limit)?;
        let wait = req.wait_ms.min(MAX_CHANGES_WAIT_MS);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::from(wait));
        loop {
            // Commits that bring no entry of interest (an anchor, a system entry) do not end
            // the wait: only an entry, or the deadline, does.
            let commits = self.commit_count();
            let page = self.changes_page(after, limit, kind, req.since.clone())?;
            let now = tokio::time::Instant::now();
            if !page.entries.is_empty() || now >= deadline {
                return Ok(page);
            }
            self.wait_commit(commits, deadline - now).await;
        }
    }

    fn changes_page(
        &self,
        after: Option<u64>,
        limit: usize,
        kind: Option<Kind>,
        since: Option<String>,
    ) -> Result<v1::ChangesResponse> {
        let r = self.reader()?;
        let page = r.changes(after, limit, kind)?;
        let cursor = match page.items.last() {
            Some(c) => Some(format!("{}|{}", c.arrival, c.entry.api_id)),
            None => match (page.cursor, after) {
                // Rows were skipped past the given cursor: move past them. With no cursor given,
                // an empty page answers none (spec/rest-api.md, behaviour 40).
                (Some(c), Some(a)) if c != a => Some(format!("{c}|")),
                _ => since,
            },
        };
        let entries = page
            .items
            .iter()
            .map(|c| {
                convert::entry(&c.entry, &r).map(|mut e| {
                    e.arrival = c.arrival;
                    e
                })
            })
            .collect::<Result<_>>()?;
        Ok(v1::ChangesResponse {
            entries,
            cursor,
            has_more: page.has_more,
        })
    }
}

/// The recipient of a message entry: its handle, or `*`.
fn recipient(e: &EntryView) -> String {
    match &e.op {
        Some(Op::Message(m)) => m.to.clone().unwrap_or_else(|| "*".to_string()),
        _ => String::new(),
    }
}

/// `<arrival>|<entry id>`; the id part may be empty.
pub fn parse_changes_cursor(c: &str) -> Result<u64> {
    let bad = || {
        ApiError::new(
            Code::BadCursor,
            format!("since must be a cursor from a previous changes answer (got {c})"),
        )
    };
    let (n, _) = c.split_once('|').ok_or_else(bad)?;
    n.parse::<u64>().map_err(|_| bad())
}
