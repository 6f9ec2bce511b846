//! The simulator's built-in device model: which configurations and commands
//! it knows without `--schema` (with the same value spaces as RoomOS 26.4.1
//! on a Codec Pro), and the Status document of a factory-new device.
//!
//! The list is written in a compact notation and read into the same
//! [`Schema`] types as the public schema, so one validator serves both.
//!
//! ```text
//! cfg PATH = DEFAULT : SPACE
//! cmd PATH [multiline] : [*]NAME=SPACE ...      (* marks a required parameter)
//! SPACE: 0..100 (integer) | str0..255 (string length) | A|B|C (literal),
//!        any of them followed by [N] for a repeated argument of up to N values
//! ```

use serde_json::{Value, json};

use crate::schema::{Entry, Kind, Param, Schema, ValueSpace};

const MODEL: &str = r#"
cfg Audio DefaultVolume = 50 : 0..100
cfg SystemUnit Name = : str0..50
cfg Standby Control = On : Off|On
cfg Standby Delay = 10 : 1..480
cfg HttpClient Mode = Off : Off|On
cfg HttpClient AllowHTTP = True : False|True
cfg NetworkServices Websocket = FollowHTTPService : FollowHTTPService|Off
cmd Audio Volume Set : *Level=0..100 Device=Internal|HeadsetBluetooth|HeadsetUSB|HandsetUSB
cmd Audio Volume Increase : Steps=1..10
cmd Audio Volume Decrease : Steps=1..10
cmd Audio Volume SetToDefault
cmd Audio Volume Mute
cmd Audio Volume Unmute
cmd Audio Microphones Mute
cmd Audio Microphones Unmute
cmd Audio Microphones ToggleMute
cmd Standby Activate
cmd Standby Deactivate
cmd Standby Halfwake
cmd Dial : *Number=str0..255 Protocol=H323|Sip|Spark CallType=Auto|Audio|Video DisplayName=str0..255 CallRate=64..20000 BookingId=str0..255 TrackingData=str0..255
cmd Call Disconnect : CallId=0..65534
cmd Call Accept : CallId=0..65534
cmd Call Reject : CallId=0..65534
cmd UserInterface Message Alert Display : *Text=str0..255 Title=str0..255 Duration=0..3600 Target=OSD|RoomScheduler|Controller
cmd UserInterface Message Alert Clear
cmd UserInterface Message Prompt Display : *Text=str0..255 Title=str0..255 FeedbackId=str0..255 Duration=0..3600 Option.1=str0..255 Option.2=str0..255 Option.3=str0..255 Option.4=str0..255 Option.5=str0..255 Target=OSD|RoomScheduler|Controller
cmd UserInterface Message Prompt Clear : FeedbackId=str0..255
cmd UserInterface Message TextLine Display : *Text=str0..140 X=1..10000 Y=1..10000 Duration=0..3600
cmd UserInterface Message TextLine Clear
cmd UserInterface Extensions Panel Save multiline : *PanelId=str1..255
cmd UserInterface Extensions Panel Remove : *PanelId=str1..255
cmd UserInterface Extensions Widget SetValue : *WidgetId=str0..255 *Value=str0..255
cmd UserInterface Extensions Widget UnsetValue : *WidgetId=str0..255
cmd Message Send : *Text=str0..8192
cmd HttpClient Post multiline : *Url=str8..2048 Header=str0..3072[20] AllowInsecureHTTPS=False|True ResultBody=None|PlainText|Base64 ResponseSizeLimit=1..1048576 Timeout=1..30
cmd HttpClient Get : *Url=str8..2048 Header=str0..3072[20] AllowInsecureHTTPS=False|True ResultBody=None|PlainText|Base64 ResponseSizeLimit=1..1048576 Timeout=1..30
cmd SystemUnit Boot : Action=Restart|Shutdown Force=False|True
"#;

/// The built-in model as a schema.
pub fn schema() -> Schema {
    let mut schema = Schema::default();
    for (n, line) in MODEL.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (kind, path, entry) =
            parse_line(line).unwrap_or_else(|e| panic!("builtin model line {}: {e}", n + 1));
        schema
            .insert(kind, &path, entry)
            .unwrap_or_else(|e| panic!("builtin model line {}: {e}", n + 1));
    }
    schema
}

fn parse_line(line: &str) -> Result<(Kind, String, Entry), String> {
    let (head, spec) = match line.split_once(" : ") {
        Some((h, s)) => (h, s.trim()),
        None => (line, ""),
    };
    if let Some(rest) = head.strip_prefix("cfg ") {
        let (path, default) = rest.split_once('=').ok_or("cfg without '='")?;
        Ok((
            Kind::Configuration,
            path.trim().to_string(),
            Entry::Configuration {
                valuespace: parse_space(spec)?,
                default: Some(default.trim().to_string()),
            },
        ))
    } else if let Some(rest) = head.strip_prefix("cmd ") {
        let (path, multiline) = match rest.strip_suffix(" multiline") {
            Some(p) => (p, true),
            None => (rest, false),
        };
        let params = spec
            .split_whitespace()
            .map(|p| {
                let (name, space) = p.split_once('=').ok_or(format!("{p}: no '='"))?;
                let (name, required) = match name.strip_prefix('*') {
                    Some(n) => (n, true),
                    None => (name, false),
                };
                Ok(Param {
                    name: name.to_string(),
                    required,
                    valuespace: parse_space(space)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok((
            Kind::Command,
            path.trim().to_string(),
            Entry::Command { params, multiline },
        ))
    } else {
        Err(format!("unknown line kind: {line}"))
    }
}

fn parse_space(spec: &str) -> Result<ValueSpace, String> {
    if let Some(open) = spec.find('[') {
        let count = spec[open + 1..]
            .strip_suffix(']')
            .and_then(|n| n.parse().ok())
            .ok_or(format!("{spec}: bad [N]"))?;
        return Ok(ValueSpace::Array {
            item: Box::new(parse_space(&spec[..open])?),
            max_count: count,
        });
    }
    let range = |s: &str| -> Result<(i64, i64), String> {
        let (a, b) = s.split_once("..").ok_or(format!("{spec}: no range"))?;
        Ok((
            a.parse().map_err(|_| format!("{spec}: bad number"))?,
            b.parse().map_err(|_| format!("{spec}: bad number"))?,
        ))
    };
    if let Some(r) = spec.strip_prefix("str") {
        let (a, b) = range(r)?;
        Ok(ValueSpace::String {
            min_len: a as usize,
            max_len: b as usize,
        })
    } else if spec.contains("..") {
        let (min, max) = range(spec)?;
        Ok(ValueSpace::Integer { min, max })
    } else if spec.contains('|') {
        Ok(ValueSpace::Literal(
            spec.split('|').map(str::to_string).collect(),
        ))
    } else {
        Err(format!("{spec}: unknown value space"))
    }
}

/// The Status document of a freshly booted device (under the `Status` key).
pub fn initial_status(default_volume: i64) -> Value {
    json!({
        "Audio": {
            "Volume": default_volume,
            "VolumeMute": "Off",
            "Microphones": { "Mute": "Off" }
        },
        "Call": [],
        "Standby": { "State": "Off" },
        "SystemUnit": {
            "Uptime": 0,
            "ProductId": "Cisco Codec Pro",
            "ProductPlatform": "Codec Pro",
            "Software": {
                "DisplayName": "RoomOS 26.4.1 (simulated by xmacro)",
                "Name": "s53200",
                "Version": "ce26.4.1.sim"
            },
            "Hardware": {
                "Monitoring": {
                    "Fan": [
                        { "id": 1, "Status": "locked on 3200 rpm" },
                        { "id": 2, "Status": "locked on 3150 rpm" }
                    ]
                }
            },
            "State": {
                "NumberOfActiveCalls": 0,
                "NumberOfInProgressCalls": 0,
                "NumberOfSuspendedCalls": 0
            }
        },
        "Video": {
            "Input": {
                "Connector": [
                    { "id": 1, "Connected": "True", "Type": "HDMI" },
                    { "id": 2, "Connected": "False", "Type": "HDMI" },
                    { "id": 3, "Connected": "False", "Type": "HDMI" }
                ]
            }
        },
        "RoomAnalytics": { "PeopleCount": { "Current": 0 } },
        "UserInterface": { "Extensions": { "Widget": [] } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xows::path::Path;

    #[test]
    fn the_model_parses() {
        let s = schema();
        let (params, multiline) = s
            .command(&Path::parse("UserInterface Extensions Panel Save").unwrap())
            .unwrap();
        assert!(multiline);
        assert!(params[0].required);
        let cfg = s.default_configuration();
        assert_eq!(cfg["Standby"]["Delay"], json!(10));
        assert_eq!(cfg["SystemUnit"]["Name"], json!(""));
        let (post, _) = s.command(&Path::parse("HttpClient Post").unwrap()).unwrap();
        assert!(matches!(
            post.iter().find(|p| p.name == "Header").unwrap().valuespace,
            ValueSpace::Array { max_count: 20, .. }
        ));
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(parse_line("cmd X : Level=abc").is_err());
        assert!(parse_line("cfg X : 0..1").is_err());
        assert!(parse_line("nope").is_err());
    }
}
