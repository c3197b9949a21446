//! `tributary check`: load, plan and render everything in memory, validate
//! every document against the feed standards, look at every post's links,
//! and report; write nothing.

use crate::app::aggregate::Upstream;
use crate::app::build::{self, load_ledger, load_posts, render_docs, render_post, Posts};
use crate::app::links;
use crate::config::SiteConfig;
use crate::content::Post;
use crate::model::{Diagnostic, Error};
use crate::plan::ledger::{self, Ledger, Resolution};
use crate::plan::select::ledger_key;
use crate::plan::{Options, Plan};
use crate::site::Site;
use crate::util::par::parallel_map;
use std::path::Path;

/// What `check` found: every problem, nothing written.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub posts: usize,
    pub documents: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// `tributary check`, step by step: read the posts, the schedule and the
/// ledger; plan (a plan that fails ends the check with its errors); what
/// the ledger did; broken links; tags readers hide; the feed standards.
pub fn check(root: &Path, opts: &Options) -> Result<CheckReport, Error> {
    let site = Site::load(root)?;
    let Posts {
        posts,
        broken,
        warnings,
    } = load_posts(&site)?;
    let mut diags = broken;
    diags.extend(warnings);
    diags.extend(schedule_note(&site, opts));
    let mut ledger = match load_ledger(root) {
        Ok(l) => l,
        Err(Error::Invalid(more)) => {
            diags.extend(more);
            Ledger::default()
        }
        Err(e) => return Err(e),
    };
    let before = ledger.clone();
    let upstream = Upstream::load(&site)?;
    let mut plan = match build::plan(&site, &posts, &mut ledger, &upstream, opts) {
        Ok(p) => p,
        Err(Error::Invalid(more)) => {
            diags.extend(more);
            return Ok(CheckReport {
                posts: posts.len(),
                documents: 0,
                diagnostics: diags,
            });
        }
        Err(e) => return Err(e),
    };
    diags.append(&mut plan.warnings);
    diags.extend(ledger_notes(&before, &plan, &posts, &site.config.content));
    let known = links::Known::new(&site.config, &site.root, &posts);
    diags.extend(
        parallel_map(&posts, 16, |p| known.check(p))
            .into_iter()
            .flatten(),
    );
    diags.extend(render_locals(&mut plan, &posts));
    diags.extend(validate_feeds(&site, &mut plan, &posts, opts)?);
    Ok(CheckReport {
        posts: posts.len(),
        documents: plan.feed_docs().len(),
        diagnostics: diags,
    })
}

/// When the `schedule:` fires next.
fn schedule_note(site: &Site, opts: &Options) -> Option<Diagnostic> {
    let (s, text) = (
        site.config.schedule.as_ref()?,
        site.config.schedule_text.as_ref()?,
    );
    let next: Vec<String> = s
        .after(&opts.now)
        .take(3)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .collect();
    Some(Diagnostic::note(
        SiteConfig::FILE,
        crate::config::key_line(&site.config.source_text, "schedule"),
        format!("schedule {text:?} fires next at {}", next.join(", ")),
    ))
}

/// Render every local entry, to look for tags that readers would hide.
fn render_locals(plan: &mut Plan, posts: &[Post]) -> Vec<Diagnostic> {
    let locals = plan.local_posts();
    let entries = &plan.entries;
    let rendered = parallel_map(&locals, 16, |&(i, post)| {
        let post = &posts[post];
        let r = render_post(&entries[i].entry.url, post);
        let w = stray_tag_warnings(post, &r.stray_tags);
        (r, w)
    });
    let mut diags = Vec::new();
    for (&(i, _), (r, w)) in locals.iter().zip(rendered) {
        let p = &mut plan.entries[i];
        p.entry.summary_html = r.summary_html;
        p.entry.content_html = Some(r.content_html);
        diags.extend(w);
    }
    diags
}

/// Every feed document, emitted in memory and checked against its standard.
fn validate_feeds(
    site: &Site,
    plan: &mut Plan,
    posts: &[Post],
    opts: &Options,
) -> Result<Vec<Diagnostic>, Error> {
    let all = plan.feed_docs();
    let bytes = render_docs(plan, posts, &all)?;
    let output = opts.output.as_ref().unwrap_or(&site.config.output);
    let mut diags = Vec::new();
    for (&d, b) in all.iter().zip(&bytes) {
        let doc = &plan.docs[d];
        diags.extend(crate::emit::validate::check(
            doc.format,
            b,
            &output.join(&doc.path),
        ));
    }
    Ok(diags)
}

/// What the ledger did for this build: ids it kept that the `ids:` scheme
/// would now make differently (the duplicates it prevented), renamed files it
/// recognised, and lines whose post is gone.
fn ledger_notes(before: &Ledger, plan: &Plan, posts: &[Post], content: &Path) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, post) in plan.local_posts() {
        let p = &plan.entries[i];
        let post = &posts[post];
        match &p.resolution {
            Resolution::Kept if p.entry.id != p.computed_id => out.push(Diagnostic::note(
                &post.path,
                None,
                format!(
                    "the ledger keeps the published id {}; without it readers would get {} and see the post again as new",
                    p.entry.id, p.computed_id
                ),
            )),
            Resolution::Renamed { old_key } => out.push(Diagnostic::note(
                &post.path,
                None,
                format!("recognised as the renamed content/{old_key}; it keeps the id {}", p.entry.id),
            )),
            Resolution::Overridden { old_id } => out.push(Diagnostic::warning(
                &post.path,
                None,
                format!(
                    "front-matter id {} replaces the published id {old_id}: readers will see this post again as new",
                    p.entry.id
                ),
            )),
            _ => {}
        }
    }
    let present: Vec<String> = posts.iter().map(|p| ledger_key(p, content)).collect();
    let present: Vec<&str> = present.iter().map(String::as_str).collect();
    for key in before.gone(&present) {
        let renamed = plan
            .entries
            .iter()
            .any(|p| matches!(&p.resolution, Resolution::Renamed { old_key } if old_key == key));
        if !renamed {
            out.push(Diagnostic::note(
                ledger::FILE,
                None,
                format!("post:{key} has no post in content/ any more (its id stays reserved)"),
            ));
        }
    }
    out
}

fn stray_tag_warnings(post: &Post, stray_tags: &[(usize, String)]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for (offset, tag) in stray_tags {
        let line = post.body_line
            + post.body.as_bytes()[..(*offset).min(post.body.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
        if out
            .iter()
            .any(|d| d.line == Some(line) && d.message.contains(tag.as_str()))
        {
            continue;
        }
        out.push(Diagnostic::warning(
            &post.path,
            Some(line),
            format!(
                "{tag} is not an HTML tag: it passes through as raw HTML and readers hide it \
                 (an unclosed backtick?); write it inside `code` or as &lt;...&gt;"
            ),
        ));
    }
    out
}
