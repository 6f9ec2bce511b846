//! The status page, rendered on the server from a [`Status`]: plain HTML
//! that reads fine without JavaScript (and refreshes itself every 10 s
//! then), and with it swaps in a fresh `<main>` from `/events` as things
//! change. One column, wide tables scroll sideways, so it works on a phone.

use std::fmt::Write as _;

use super::snapshot::{ErrorStatus, Filter, InstanceStatus, Status};

/// Escapes text for HTML content and attribute values (see [`crate::log::markup`]).
pub fn esc(s: &str) -> String {
    crate::log::markup::escape(s)
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:.5em 1em;max-width:70em;color:#222}\
h1{font-size:1.3em;margin:.3em 0}h2{font-size:1.1em;margin:1.2em 0 .3em}h3{font-size:1em;margin:.8em 0 .2em}\
table{border-collapse:collapse;width:100%}td,th{padding:.2em .5em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
.wrap{overflow-x:auto}.s{display:inline-block;padding:0 .4em;border-radius:.3em;font-weight:600}\
.ok,.connected,.running,.loaded,.reloaded{background:#d4f4d4}.degraded,.reconnecting,.connecting,.waiting,.retrying{background:#fff1c2}\
.failing,.failed,.compile_error,.closed,.error{background:#ffd5d5}.starting{background:#e4e4ff}\
pre{white-space:pre-wrap;margin:.2em 0;font-size:.9em}.err{color:#a00}form input{width:8em}\
section.script{border-top:1px solid #ccc;margin-top:.6em}small{color:#666}";

const SCRIPT: &str = "(function(){if(!window.EventSource)return;\
var live=document.getElementById('live');\
var es=new EventSource('events'+location.search);\
es.onmessage=function(e){document.getElementById('main').innerHTML=e.data;live.textContent='live';};\
es.onerror=function(){live.textContent='reconnecting…';};})();";

fn badge(state: &str) -> String {
    format!(r#"<span class="s {0}">{0}</span>"#, esc(state))
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(esc).unwrap_or_default()
}

fn error_line(e: &ErrorStatus) -> String {
    format!(
        r#"<pre class="err">{}</pre><small>{}{}</small>"#,
        esc(&e.message),
        esc(&e.at),
        e.codec
            .as_deref()
            .map(|c| format!(" on {}", esc(c)))
            .unwrap_or_default()
    )
}

/// The whole page.
pub fn page(status: &Status, filter: &Filter) -> String {
    let field = |name: &str, v: &Option<String>| {
        format!(
            r#"<label>{name} <input name="{name}" value="{}"></label> "#,
            opt(v)
        )
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>xmacro status</title>
<noscript><meta http-equiv="refresh" content="10"></noscript>
<style>{STYLE}</style></head>
<body>
<h1>xmacro <small id="live">static</small></h1>
<form method="get" action="">{}{}{}<button>Filter</button> <a href="?">all</a></form>
<main id="main">{}</main>
<script>{SCRIPT}</script>
</body></html>
"#,
        field("codec", &filter.codec),
        field("tag", &filter.tag),
        field("script", &filter.script),
        main(status)
    )
}

/// The part that changes (what `/events` sends).
pub fn main(s: &Status) -> String {
    let mut o = String::new();
    let up = s.codecs.iter().filter(|c| c.state == "connected").count();
    let failing = s.scripts.iter().filter(|x| x.state != "ok").count();
    let _ = write!(
        o,
        r#"<p id="summary">{} · {}/{} codecs connected · {} scripts, {} not ok · stores {} bytes · version {} · up since {}</p>"#,
        badge(&s.health),
        up,
        s.codecs.len(),
        s.scripts.len(),
        failing,
        s.store_bytes,
        esc(&s.version),
        esc(&s.started_at),
    );
    if !s.ready {
        let _ = write!(o, "<p>not ready: {}</p>", esc(&s.ready_reason));
    }
    o.push_str(r#"<h2>Codecs</h2><div class="wrap"><table id="codecs"><tr><th>codec</th><th>state</th><th>connected since</th><th>round trip</th><th>reconnects</th><th>last error</th><th>tags</th><th>panels</th></tr>"#);
    for c in &s.codecs {
        let _ = write!(
            o,
            r#"<tr data-codec="{0}"><td>{0}<br><small>{1}</small></td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td><td>{6}</td><td>{7}</td><td>{8}</td></tr>"#,
            esc(&c.name),
            esc(&c.url),
            badge(&c.state),
            opt(&c.connected_since),
            c.rtt_ms.map(|ms| format!("{ms:.1} ms")).unwrap_or_default(),
            c.reconnects,
            opt(&c.last_error),
            esc(&c.tags.join(", ")),
            esc(&super::table::panels_cell(&c.panels)),
        );
    }
    o.push_str("</table></div><h2>Scripts</h2>");
    for sc in &s.scripts {
        let _ = write!(
            o,
            r#"<section class="script" data-script="{0}"><h3>{0} {1}</h3><small>{2} · version {3} · loaded {4} · {5} error(s) since start · <a href="/api/audit?script={6}&amp;since=1d">changes, last day</a></small>"#,
            esc(&sc.name),
            badge(&sc.state),
            esc(&sc.file),
            sc.version
                .as_deref()
                .map(|v| esc(&v[..v.len().min(12)]))
                .unwrap_or_else(|| "none".into()),
            opt(&sc.loaded_at),
            sc.errors,
            esc(&url::form_urlencoded::byte_serialize(sc.name.as_bytes()).collect::<String>()),
        );
        if let Some(r) = &sc.rollout {
            let _ = write!(
                o,
                r#"<p class="rollout">rollout: {}</p>"#,
                esc(&super::rollout::line(&sc.name, r))
            );
        }
        if let Some(e) = &sc.compile_error {
            let _ = write!(
                o,
                "<p>does not compile or does not start (the previous version, if any, runs):</p>{}",
                error_line(e)
            );
        } else if let Some(e) = &sc.last_error {
            let _ = write!(o, "<p>last error:</p>{}", error_line(e));
        }
        let (shown, hidden) = instances_to_show(&sc.instances);
        o.push_str(r#"<div class="wrap"><table><tr><th>codec</th><th>state</th><th>since</th><th>errors</th><th>last error</th></tr>"#);
        for i in shown {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&i.codec),
                badge(&i.state),
                esc(&i.since),
                i.errors,
                i.last_error
                    .as_ref()
                    .map(|e| format!(r#"<pre class="err">{}</pre>"#, esc(&e.message)))
                    .unwrap_or_default()
            );
        }
        o.push_str("</table></div>");
        if hidden > 0 {
            let _ = write!(
                o,
                "<p><small>and {hidden} more running without errors; filter by codec or tag to see them</small></p>"
            );
        }
        if !sc.logs.is_empty() {
            let _ = write!(
                o,
                "<details><summary>recent log lines ({})</summary><pre>",
                sc.logs.len()
            );
            for l in sc.logs.iter().rev() {
                let _ = writeln!(
                    o,
                    "{} {:5} {}{}",
                    esc(&l.at),
                    esc(&l.level),
                    l.codec
                        .as_deref()
                        .map(|c| format!("[{}] ", esc(c)))
                        .unwrap_or_default(),
                    esc(&l.text)
                );
            }
            o.push_str("</pre></details>");
        }
        o.push_str("</section>");
    }
    o.push_str(r#"<h2>Recent reloads</h2><div class="wrap"><table id="reloads"><tr><th>at</th><th>script</th><th>outcome</th><th>detail</th></tr>"#);
    for r in s.reloads.iter().take(20) {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.at),
            esc(&r.script),
            badge(&r.outcome),
            opt(&r.detail)
        );
    }
    o.push_str("</table></div>");
    o
}

/// Instance rows a page shows at most; a fleet's healthy instances beyond
/// it are counted, not listed (the troubled ones always come first).
pub const INSTANCE_ROWS: usize = 50;

/// The instances worth a row, troubled first, and how many were left out.
fn instances_to_show(all: &[InstanceStatus]) -> (Vec<&InstanceStatus>, usize) {
    if all.len() <= INSTANCE_ROWS {
        return (all.iter().collect(), 0);
    }
    let troubled = |i: &&InstanceStatus| i.state != "running" || i.errors > 0;
    let mut rows: Vec<&InstanceStatus> = all.iter().filter(troubled).collect();
    rows.extend(all.iter().filter(|i| !troubled(i)));
    rows.truncate(INSTANCE_ROWS);
    let hidden = all.len() - rows.len();
    (rows, hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_shows_troubled_instances_first_and_counts_the_rest() {
        let inst = |n: usize, state: &str| InstanceStatus {
            codec: format!("c{n:04}"),
            state: state.into(),
            since: String::new(),
            errors: 0,
            last_error: None,
        };
        let mut all: Vec<InstanceStatus> = (0..1000).map(|n| inst(n, "running")).collect();
        all[700].state = "failed".into();
        all[900].errors = 2;
        let (shown, hidden) = instances_to_show(&all);
        assert_eq!(shown.len(), INSTANCE_ROWS);
        assert_eq!(hidden, 1000 - INSTANCE_ROWS);
        assert_eq!(shown[0].codec, "c0700");
        assert_eq!(shown[1].codec, "c0900");
        let few: Vec<InstanceStatus> = (0..3).map(|n| inst(n, "running")).collect();
        assert_eq!(instances_to_show(&few), (few.iter().collect(), 0));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
