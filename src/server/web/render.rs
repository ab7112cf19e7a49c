//! Turning read models into HTML: the templates (compiled into the binary, rendered with
//! minijinja, which escapes every value by default), Rhai source highlighted on the server
//! (syntect's Rust grammar, the closest it ships, turned into flat classed spans of
//! escaped text, one line at a time), line diffs of policy and document versions, and times shown to people.
//!
//! Nothing here is trusted HTML except what these functions build from escaped pieces:
//! templates mark a value `|safe` only when it comes from [`highlight`] or [`diff`].

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// Policy source longer than this is shown plain (highlighting is linear, but a page should
/// not spend its budget on one policy).
pub const HIGHLIGHT_BYTES_MAX: usize = 256 * 1024;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("index.html", include_str!("templates/index.html")),
    ("signin.html", include_str!("templates/signin.html")),
    ("error.html", include_str!("templates/error.html")),
    (
        "_proposal_table.html",
        include_str!("templates/_proposal_table.html"),
    ),
    ("home.html", include_str!("templates/home.html")),
    ("proposals.html", include_str!("templates/proposals.html")),
    ("proposal.html", include_str!("templates/proposal.html")),
    ("propose.html", include_str!("templates/propose.html")),
    ("policies.html", include_str!("templates/policies.html")),
    ("policy.html", include_str!("templates/policy.html")),
    ("editor.html", include_str!("templates/editor.html")),
    ("roles.html", include_str!("templates/roles.html")),
    ("members.html", include_str!("templates/members.html")),
    ("documents.html", include_str!("templates/documents.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("history.html", include_str!("templates/history.html")),
];

struct Renderer {
    templates: Environment<'static>,
    syntaxes: SyntaxSet,
}

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| {
        let mut templates = Environment::new();
        // Every template is HTML: escape every value, whatever the file name says.
        templates.set_auto_escape_callback(|_| AutoEscape::Html);
        for (name, source) in TEMPLATES {
            templates
                .add_template(name, source)
                .unwrap_or_else(|error| panic!("template {name}: {error}"));
        }
        Renderer {
            templates,
            syntaxes: SyntaxSet::load_defaults_newlines(),
        }
    })
}

/// Load templates and grammars now, so the first request does not pay for them.
pub fn warm_up() {
    renderer();
}

/// Render a page template with `context`.
pub fn page(template: &str, context: &impl Serialize) -> Result<String, minijinja::Error> {
    renderer()
        .templates
        .get_template(template)?
        .render(minijinja::value::Serde(context))
}

fn escape(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}

/// Rhai source as HTML: one `<span class="line">` per line, each token of interest in a
/// flat classed span (`hl-comment`, `hl-string`, `hl-keyword`, `hl-storage`, `hl-constant`,
/// `hl-function`, `hl-support`), every piece of text escaped. Spans never cross lines, so
/// each line stands alone (line numbers, long lines, copy and paste).
pub fn highlight(source: &str) -> String {
    (source.len() <= HIGHLIGHT_BYTES_MAX)
        .then(|| highlight_lines(source))
        .flatten()
        .unwrap_or_else(|| {
            source
                .lines()
                .map(|line| format!("<span class=\"line\">{}</span>", escape(line)))
                .collect()
        })
}

fn highlight_lines(source: &str) -> Option<String> {
    use syntect::easy::ScopeRegionIterator;
    use syntect::parsing::{ParseState, ScopeStack};
    let renderer = renderer();
    let syntax = renderer.syntaxes.find_syntax_by_extension("rs")?;
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut out = String::with_capacity(source.len() * 2);
    for line in LinesWithEndings::from(source) {
        let ops = state.parse_line(line, &renderer.syntaxes).ok()?;
        out.push_str("<span class=\"line\">");
        for (text, op) in ScopeRegionIterator::new(&ops, line) {
            stack.apply(op).ok()?;
            let text = text.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                continue;
            }
            match token_class(&stack) {
                Some(class) => {
                    out.push_str("<span class=\"");
                    out.push_str(class);
                    out.push_str("\">");
                    out.push_str(&escape(text));
                    out.push_str("</span>");
                }
                None => out.push_str(&escape(text)),
            }
        }
        // No newline between lines: each line is a block of its own inside the <pre>.
        out.push_str("</span>");
    }
    Some(out)
}

/// The class of the innermost scope worth colouring.
fn token_class(stack: &syntect::parsing::ScopeStack) -> Option<&'static str> {
    stack.as_slice().iter().rev().find_map(|scope| {
        let name = scope.build_string();
        let class = match name.split('.').next()? {
            "comment" => "hl-comment",
            "string" => "hl-string",
            "keyword" => "hl-keyword",
            "storage" => "hl-storage",
            "constant" => "hl-constant",
            "support" => "hl-support",
            "entity" if name.starts_with("entity.name.function") => "hl-function",
            _ => return None,
        };
        Some(class)
    })
}

/// A line diff from `old` to `new` as HTML table rows (`del`, `ins`, `same` classes), with
/// line numbers; unchanged runs longer than a few lines are folded.
pub fn diff(old: &str, new: &str) -> String {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    for (index, group) in diff.grouped_ops(3).iter().enumerate() {
        if index > 0 {
            out.push_str("<tr class=\"fold\"><td></td><td></td><td>…</td></tr>\n");
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let (class, sign) = match change.tag() {
                    ChangeTag::Delete => ("del", "-"),
                    ChangeTag::Insert => ("ins", "+"),
                    ChangeTag::Equal => ("same", " "),
                };
                let number = |n: Option<usize>| n.map(|n| (n + 1).to_string()).unwrap_or_default();
                out.push_str(&format!(
                    "<tr class=\"{class}\"><td class=\"n\">{}</td><td class=\"n\">{}</td><td><code>{sign} {}</code></td></tr>\n",
                    number(change.old_index()),
                    number(change.new_index()),
                    escape(change.value().trim_end_matches('\n')),
                ));
            }
        }
    }
    out
}

/// A time for people: `2026-11-30 14:05 UTC`.
pub fn time(at_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} {} UTC", &text[..10], &text[11..16])
}

/// How far `at_ms` is from `now_ms`: `in 2 h 5 min`, `3 d ago`.
pub fn relative(at_ms: u64, now_ms: u64) -> String {
    let (ahead, gap) = if at_ms >= now_ms {
        (true, at_ms - now_ms)
    } else {
        (false, now_ms - at_ms)
    };
    let minutes = gap / 60_000;
    let text = if minutes == 0 {
        "under a minute".to_owned()
    } else if minutes < 60 {
        format!("{minutes} min")
    } else if minutes < 48 * 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        format!("{} d {} h", minutes / (24 * 60), (minutes / 60) % 24)
    };
    if ahead {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighted_source_is_escaped() {
        let html = highlight("fn check(action, policy) { \"</span><script>x()</script>\" }\n");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("hl-"), "{html}");
    }

    #[test]
    fn every_highlighted_line_stands_alone() {
        // A block comment and a string across lines: spans still open and close per line.
        let source = "/* a\n b */\nfn check(action, policy) {\n  let s = \"x\n y\";\n  PASSED\n}\n";
        let html = highlight(source);
        let lines: Vec<&str> = html.split("<span class=\"line\">").skip(1).collect();
        assert_eq!(lines.len(), source.lines().count());
        for line in lines {
            let line = line
                .strip_suffix("</span>")
                .expect("each line closes its block");
            assert_eq!(
                line.matches("<span").count(),
                line.matches("</span>").count(),
                "{line}"
            );
        }
        assert!(html.contains("<span class=\"hl-comment\">"), "{html}");
        assert!(
            html.contains("<span class=\"hl-function\">check</span>"),
            "{html}"
        );
    }

    #[test]
    fn diffs_escape_and_mark_lines() {
        let html = diff("a\n<b>\n", "a\n<c>\n");
        assert!(html.contains("class=\"del\""));
        assert!(html.contains("&lt;c&gt;"));
        assert!(!html.contains("<c>"));
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(3_600_000 + 300_000, 0), "in 1 h 5 min");
        assert_eq!(relative(0, 3 * 86_400_000), "3 d 0 h ago");
    }
}
