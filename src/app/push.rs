//! Sources pushed by WebSub: what a fetch learns of a source's hub, and a
//! pushed document stored as a fetch would store it. The protocol (the
//! callback, subscribing, leases) is `serve/subscriber.rs`.

use super::aggregate::{self, Doc, SourceResult};
use crate::fetch::headers::WebSubLinks;
use crate::fetch::{Outcome, Validators};
use crate::model::Error;
use crate::site::Site;
use crate::store::push::{PushState, PushSubscription};
use crate::store::Store;
use chrono::{DateTime, Utc};

/// Longest hub or topic URL kept: longer ones are not subscribed to.
const MAX_URL: usize = 2000;

/// A fetch of `key` read `doc`, answered with `links`: keep the hub it
/// advertises (the `Link` header first, as WebSub 4 says, then the
/// document) and the topic (the `self` link, else the URL fetched). A
/// source that no longer names a hub loses its subscription row; one that
/// names another hub or topic starts over.
pub(super) fn discovered(
    store: &mut dyn Store,
    key: &str,
    links: &WebSubLinks,
    doc: &Doc,
    fetched: &str,
) -> Result<(), Error> {
    let web = |u: &&String| crate::model::urlpolicy::is_web(u) && u.len() <= MAX_URL;
    let hub = links.hub.as_ref().or(doc.hub.as_ref()).filter(web);
    let topic = links
        .self_url
        .as_ref()
        .or(doc.self_url.as_ref())
        .filter(web)
        .map_or(fetched, |t| t.as_str());
    let old = store.push_of(key)?;
    match (hub, old) {
        (None, None) => {}
        (None, Some(_)) => {
            store.push_delete(key)?;
        }
        (Some(hub), Some(old)) if old.hub == *hub && old.topic == topic => {}
        (Some(hub), old) => {
            let mut sub = PushSubscription::discovered(key, hub, topic);
            if let Some(old) = old {
                tracing::info!(source = key, hub = %hub, topic, "the source names another WebSub hub or topic: subscribing again");
                sub.revision = old.revision;
                sub.pushes = old.pushes;
                sub.last_push = old.last_push;
            }
            // Another process that wrote first saw the same document.
            store.push_save(&sub)?;
        }
    }
    Ok(())
}

/// A document `key`'s hub pushed, its signature already checked: its
/// items are stored as a fetch's would be, and the source's next poll is
/// a whole interval away (the push is as good as a fetch). The source's
/// validators and fetch times are left alone: nothing was fetched.
pub fn accept(
    site: &Site,
    store: &mut dyn Store,
    key: &str,
    body: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<SourceResult, Error> {
    let Some(src) = aggregate::configured_sources(site)
        .into_iter()
        .find(|s| s.key == key)
    else {
        return Ok(SourceResult::Failed(format!("{key} is no longer a source")));
    };
    let mut state = store.ensure_source(&src.key, &src.name)?;
    let outcome = Outcome::Fetched {
        body,
        validators: Validators::default(),
        final_url: state.url.clone(),
        permanent_url: None,
        min_interval: None,
        content_type: None,
        websub: WebSubLinks::default(),
    };
    let result = match aggregate::parse_outcome(&src, Some(&state), &outcome, now) {
        Some(Ok(doc)) => {
            let (items, new) = aggregate::put_fresh(site, store, &src, doc.fresh, now)?;
            let min = state.min_interval_secs.map(chrono::Duration::seconds);
            state.next_due = Some(aggregate::next_due(&src, now, min));
            store.save_source(&state)?;
            SourceResult::Fetched { items, new }
        }
        Some(Err(e)) => SourceResult::Failed(e.to_string()),
        None => SourceResult::Failed("nothing was parsed".into()),
    };
    count_push(store, key, &result, now)?;
    Ok(result)
}

/// Count a push on the subscription (retrying a write another process
/// raced), with the parse error if there was one.
fn count_push(
    store: &mut dyn Store,
    key: &str,
    result: &SourceResult,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    for _ in 0..3 {
        let Some(mut sub) = store.push_of(key)? else {
            return Ok(());
        };
        sub.pushes += 1;
        sub.last_push = Some(now);
        if let SourceResult::Failed(e) = result {
            sub.last_error = Some(format!("pushed content: {e}"));
        } else if sub.state == PushState::Active {
            sub.last_error = None;
        }
        if store.push_save(&sub)? {
            return Ok(());
        }
    }
    Ok(())
}
