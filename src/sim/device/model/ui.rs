//! The codec's screen: messages a script shows (alerts, prompts, text
//! lines, text inputs) go to the UI log (`xSim/UiLog`) and to the log as
//! the room would show them; UI extension panels are kept and listed by
//! `UserInterface Extensions List`; widget values are kept in Status, and
//! so are web views (`UserInterface WebView Display` / `Clear` show and
//! remove a `Status UserInterface WebView[n]` of type Integration).

use serde_json::{Map, Value, json};
use tracing::info;

use super::{cause, command_error, elements, ok, p, remember, text};
use crate::sim::device::State;
use crate::xows::path::Segment;
use crate::xows::protocol::RpcError;

const WIDGETS: &str = "Status UserInterface Extensions Widget";

/// The UI commands; `None` for any other command.
pub fn execute(
    st: &mut State,
    name: &str,
    args: &Map<String, Value>,
) -> Option<Result<Value, RpcError>> {
    if let Some(rest) = name.strip_prefix("UserInterface Message ") {
        let (kind, action) = rest.split_once(' ').unwrap_or((rest, ""));
        if matches!(action, "Display" | "Clear") {
            show(st, kind, action, args);
            return Some(ok());
        }
        return None;
    }
    Some(match name {
        "UserInterface Extensions Panel Save" => {
            let id = text(args, "PanelId").to_string();
            st.panels.insert(id.clone(), text(args, "body").into());
            info!("room: panel {id:?} saved");
            ok()
        }
        "UserInterface Extensions Panel Remove" => match st.panels.remove(text(args, "PanelId")) {
            Some(_) => ok(),
            None => Err(command_error(cause::ILLEGAL_ARGUMENT, "Panel not found")),
        },
        "UserInterface Extensions Clear" => {
            st.panels.clear();
            ok()
        }
        "UserInterface Extensions List" => Ok(list(st)),
        "UserInterface Extensions Panel Open" | "UserInterface Extensions Panel Close" => {
            let what = name.rsplit(' ').next().unwrap_or_default();
            show(st, "Panel", what, args);
            ok()
        }
        "UserInterface Extensions Widget SetValue" => {
            widget_value(st, text(args, "WidgetId"), text(args, "Value"))
        }
        "UserInterface Extensions Widget UnsetValue" => {
            widget_value(st, text(args, "WidgetId"), "")
        }
        "UserInterface WebView Display" => {
            show(st, "WebView", "Display", args);
            webview_display(st, args)
        }
        "UserInterface WebView Clear" => {
            show(st, "WebView", "Clear", args);
            webview_clear(st, args)
        }
        _ => return None,
    })
}

/// Records what the screen shows, in order, and says it in the log.
fn show(st: &mut State, kind: &str, action: &str, args: &Map<String, Value>) {
    st.room.ui_seq += 1;
    let mut entry = args.clone();
    entry.insert("Seq".into(), json!(st.room.ui_seq));
    entry.insert("Kind".into(), json!(kind));
    entry.insert("Action".into(), json!(action));
    let title = match text(args, "Title") {
        "" => String::new(),
        t => format!("[{t}] "),
    };
    let body = text(args, "Text");
    let options: Vec<&str> = (1..=5)
        .filter_map(|n| args.get(&format!("Option.{n}")).and_then(Value::as_str))
        .collect();
    match action {
        "Display" if options.is_empty() => info!("room: {kind} shown: {title}{body}"),
        "Display" => info!(
            "room: {kind} shown: {title}{body} (options: {})",
            options.join(" / ")
        ),
        _ => info!("room: {kind} {}", action.to_ascii_lowercase()),
    }
    remember(&mut st.room.ui_log, Value::Object(entry));
}

/// `UserInterface Extensions List`: the saved panels with what their XML
/// says about them.
fn list(st: &State) -> Value {
    let panels: Vec<Value> = st
        .panels
        .iter()
        .enumerate()
        .map(|(i, (id, xml))| {
            let mut panel = json!({ "id": i + 1, "PanelId": id });
            for tag in ["Type", "Name", "Icon", "Color", "Order", "Location"] {
                if let Some(v) = first_tag(xml, tag) {
                    panel[tag] = json!(v);
                }
            }
            panel
        })
        .collect();
    json!({ "Extensions": { "Version": "1.11", "Panel": panels } })
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn first_tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..start + end].trim())
}

fn widget_value(st: &mut State, widget: &str, value: &str) -> Result<Value, RpcError> {
    let widgets = elements(st, WIDGETS);
    let id = widgets
        .iter()
        .find(|w| w["WidgetId"] == json!(widget))
        .and_then(|w| w["id"].as_u64())
        .unwrap_or_else(|| {
            widgets
                .iter()
                .filter_map(|w| w["id"].as_u64())
                .max()
                .unwrap_or(0)
                + 1
        });
    let elem = super::new_element(st, WIDGETS, json!({ "WidgetId": widget, "Value": value }));
    st.set(
        &[p(WIDGETS).as_slice(), &[Segment::Index(id)]].concat(),
        elem,
    );
    ok()
}

const WEBVIEWS: &str = "Status UserInterface WebView";

/// Shows a web page on a target (OSD unless said): its web view appears in
/// Status, or the one already on that target shows the new URL.
fn webview_display(st: &mut State, args: &Map<String, Value>) -> Result<Value, RpcError> {
    let target = match text(args, "Target") {
        "" => "OSD",
        t => t,
    }
    .to_string();
    let url = text(args, "Url").to_string();
    let id = match st.room.webviews.get(&target) {
        Some(id) => *id,
        None => {
            let taken = elements(st, WEBVIEWS);
            (1..)
                .find(|n| !taken.iter().any(|w| w["id"].as_u64() == Some(*n)))
                .unwrap_or(1)
        }
    };
    let fields = json!({ "Status": "Visible", "Type": "Integration", "URL": url });
    let view = super::new_element(st, WEBVIEWS, fields);
    st.set(&super::element(WEBVIEWS, id, None), view);
    st.room.webviews.insert(target.clone(), id);
    info!("room: web view {id} on {target} shows {url}");
    ok()
}

/// Closes the web view on a target (every one when none is said): its
/// element leaves Status (a ghost is sent).
fn webview_clear(st: &mut State, args: &Map<String, Value>) -> Result<Value, RpcError> {
    let closing: Vec<(String, u64)> = match text(args, "Target") {
        "" => std::mem::take(&mut st.room.webviews).into_iter().collect(),
        t => st
            .room
            .webviews
            .remove(t)
            .map(|id| (t.to_string(), id))
            .into_iter()
            .collect(),
    };
    for (target, id) in closing {
        st.remove(&super::element(WEBVIEWS, id, None));
        info!("room: web view {id} on {target} closed");
    }
    ok()
}

/// A user acts on a widget (the simulator's `xSim/WidgetAction`): a
/// button gives pressed, released, clicked; other types give what is said.
pub fn widget_action(st: &mut State, widget: &str, kind: Option<&str>, value: &str) {
    let kinds: Vec<&str> = match kind {
        None | Some("clicked") => vec!["pressed", "released", "clicked"],
        Some(k) => vec![k],
    };
    for k in kinds {
        st.emit(
            &p("Event UserInterface Extensions Widget Action"),
            json!({ "WidgetId": widget, "Type": k, "Value": value, "Origin": "OSD" }),
        );
    }
    if !value.is_empty() {
        let _ = widget_value(st, widget, value);
    }
    super::standby::wake(st);
    info!("room: someone used widget {widget:?} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_from_panel_xml() {
        let xml = "<Extensions><Panel><Type>Statusbar</Type><Name>Lights</Name><Page><Name>P</Name></Page></Panel></Extensions>";
        assert_eq!(first_tag(xml, "Name"), Some("Lights"));
        assert_eq!(first_tag(xml, "Icon"), None);
    }
}
