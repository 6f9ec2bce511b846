//! The simulator's built-in device model: which configurations, commands
//! and events it knows without `--schema` (with the same value spaces as
//! RoomOS 26.4.1 on a Codec Pro), and the Status document of a factory-new
//! device (its paths are the model's Status entries).
//!
//! The list is written in a compact notation and read into the same
//! [`Schema`] types as the public schema, so one validator serves both.
//!
//! ```text
//! cfg PATH = DEFAULT : SPACE
//! cmd PATH [multiline] : [*]NAME=SPACE[=DEFAULT] ...
//!                         (* marks a required parameter; DEFAULT, possibly
//!                         empty, is what the device uses when it is left out)
//! evt PATH [: NAME=int|string|literal|A|B ...]  (the event's fields)
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
cfg Standby Halfwake Mode = Auto : Auto|Manual
cfg HttpClient Mode = Off : Off|On
cfg HttpClient AllowHTTP = True : False|True
cfg NetworkServices Websocket = FollowHTTPService : FollowHTTPService|Off
cmd Audio Volume Set : *Level=0..100 Device=Internal|HeadsetBluetooth|HeadsetUSB|HandsetUSB
cmd Audio Volume Increase : Steps=1..10=5
cmd Audio Volume Decrease : Steps=1..10=5
cmd Audio Volume SetToDefault
cmd Audio Volume Mute
cmd Audio Volume Unmute
cmd Audio Microphones Mute
cmd Audio Microphones Unmute
cmd Audio Microphones ToggleMute
cmd Standby Activate
cmd Standby Deactivate
cmd Standby Halfwake
cmd Standby ResetTimer : Delay=1..480
cmd Dial : *Number=str0..255 Protocol=H323|Sip|Spark CallType=Auto|Audio|Video DisplayName=str0..255= CallRate=64..20000 BookingId=str0..255= TrackingData=str0..255=
cmd Call Disconnect : CallId=0..65534=0
cmd Call Accept : CallId=0..65534=0
cmd Call Reject : CallId=0..65534=0
cmd Call Hold : CallId=0..65534=0 Reason=Conference|Transfer|Other=Other
cmd Call Resume : CallId=0..65534=0
cmd Conference DoNotDisturb Activate : Timeout=1..20160
cmd Conference DoNotDisturb Deactivate
cmd Presentation Start : ConnectorId=1..15[4] Instance=New|1|2|3|4|5|6 Layout=Equal|Prominent=Equal PresentationSource=None|AirPlay|Miracast|Remote|WebView|1|2|3|4|5|6|7|8[4] SendingMode=LocalRemote|LocalOnly=LocalRemote WebViewId=0..65534
cmd Presentation Stop : Instance=1|2|3|4|5|6 PresentationSource=None|AirPlay|Miracast|Remote|WebView|1|2|3|4|5|6|7|8 WebViewId=0..65534
cmd Video Selfview Set : FullscreenMode=On|Off Mode=On|Off OnMonitorRole=First|Second|Third PIPPosition=CenterLeft|CenterRight|LowerLeft|LowerRight|UpperCenter|UpperLeft|UpperRight
cmd UserInterface Message Alert Display : *Text=str0..255 Title=str0..255= Duration=0..3600=0 Target=OSD|RoomScheduler|Controller
cmd UserInterface Message Alert Clear
cmd UserInterface Message Prompt Display : *Text=str0..255 Title=str0..255 FeedbackId=str0..255 Duration=0..3600=0 Option.1=str0..255 Option.2=str0..255 Option.3=str0..255 Option.4=str0..255 Option.5=str0..255 Target=OSD|RoomScheduler|Controller
cmd UserInterface Message Prompt Clear : FeedbackId=str0..255=
cmd UserInterface Message TextLine Display : *Text=str0..140 X=1..10000=0 Y=1..10000=0 Duration=0..3600=0
cmd UserInterface Message TextLine Clear
cmd UserInterface Message TextInput Display : *Text=str0..128 Title=str0..40= FeedbackId=str0..255 Placeholder=str0..255= InputType=SingleLine|Numeric|Password|PIN=SingleLine InputText=str0..255= SubmitText=str0..32=OK Duration=0..3600=0 KeyboardState=Open|Closed=Open Target=OSD|RoomScheduler|Controller
cmd UserInterface Message TextInput Clear : FeedbackId=str0..255=
cmd UserInterface Extensions Panel Save multiline : *PanelId=str1..255
cmd UserInterface Extensions Panel Remove : *PanelId=str1..255
cmd UserInterface Extensions Panel Open : *PanelId=str0..255 PageId=str0..255 Target=OSD|RoomScheduler|Controller
cmd UserInterface Extensions Panel Close
cmd UserInterface Extensions List : ActivityType=Custom|WebWidget
cmd UserInterface Extensions Clear
cmd UserInterface Extensions Widget SetValue : *WidgetId=str0..255 *Value=str0..255
cmd UserInterface Extensions Widget UnsetValue : *WidgetId=str0..255
cmd UserInterface WebView Display : *Url=str0..2000 Target=OSD|Controller|PersistentWebApp|RoomScheduler Title=str0..255 Mode=Fullscreen|Modal Options=str0..255 AllowInsecureHttps=False|True Header=str0..8192[15]
cmd UserInterface WebView Clear : Target=OSD|Controller|PersistentWebApp|RoomScheduler
cmd Message Send : *Text=str0..8192
cmd HttpClient Post multiline : *Url=str8..2048 Header=str0..3072[20] AllowInsecureHTTPS=False|True=False ResultBody=None|PlainText|Base64=None ResponseSizeLimit=1..1048576=1048576 Timeout=1..30=30
cmd HttpClient Put multiline : *Url=str8..2048 Header=str0..3072[20] AllowInsecureHTTPS=False|True=False ResultBody=None|PlainText|Base64=None ResponseSizeLimit=1..1048576=1048576 Timeout=1..30=30
cmd HttpClient Patch multiline : *Url=str8..2048 Header=str0..3072[20] AllowInsecureHTTPS=False|True=False ResultBody=None|PlainText|Base64=None ResponseSizeLimit=1..1048576=1048576 Timeout=1..30=30
cmd HttpClient Get : *Url=str8..2048 Header=str0..3072[20] AllowInsecureHTTPS=False|True=False ResultBody=None|PlainText|Base64=PlainText ResponseSizeLimit=1..1048576=1048576 Timeout=1..30=30
cmd HttpClient Delete : *Url=str8..2048 Header=str0..3072[20] AllowInsecureHTTPS=False|True=False ResultBody=None|PlainText|Base64=None ResponseSizeLimit=1..1048576=1048576 Timeout=1..30=30
cmd Bookings List : AccountType=Shared|Personal|SharedAndPersonal DayOffset=0..365=0 Days=1..365 Limit=1..65534 Offset=0..65534=0 ScheduleType=Current|Upcoming
cmd Bookings Get : Id=str1..128 MeetingId=str1..128
cmd CallHistory Get : CallHistoryId=1..2147483647 DetailLevel=Basic|Full=Basic Filter=All|Missed|AnsweredElsewhere|Forwarded|Placed|NoAnswer|Received|Rejected|UnacknowledgedMissed|Pmr=All Limit=0..65534=65534 Offset=0..65534=0 SearchString=str0..255=
cmd CallHistory Recents : DetailLevel=Basic|Full=Basic Filter=All|Missed|AnsweredElsewhere|Forwarded|Placed|NoAnswer|Received|Rejected|UnacknowledgedMissed|Pmr=All Limit=0..65534=65534 Offset=0..65534=0 Order=OccurrenceTime|OccurrenceFrequency=OccurrenceTime SearchString=str0..255=
cmd Camera PositionSet : *CameraId=1..15 Focus=0..65535 Lens=Wide|Center|Left|Right Pan=-17000..17000 Roll=-300..300 Tilt=-9000..9000 Zoom=0..12000
cmd Camera Preset Store : *CameraId=1..15 DefaultPosition=False|True ListPosition=1..35 Name=str0..255 PresetId=1..35 TakeSnapshot=False|True
cmd Camera Preset Activate : *PresetId=1..35
cmd Camera Preset List : CameraId=1..15 DefaultPosition=False|True
cmd Camera Preset Remove : *PresetId=1..35
cmd SystemUnit Boot : Action=Restart|Shutdown=Restart Force=False|True=True
evt OutgoingCallIndication : CallId=int
evt IncomingCallIndication : CallId=int RemoteURI=string DisplayNameValue=string
evt CallSuccessful : CallId=int Protocol=string Direction=string CallRate=int RemoteURI=string EncryptionIn=string EncryptionOut=string
evt CallDisconnect : CallId=int CauseCode=int CauseValue=int CauseType=string CauseString=string CauseOrigin=Internal|SIP|Q850|Spark|WebRTC OrigCallDirection=string RemoteURI=string DisplayName=string Duration=int Protocol=literal CallType=literal CallRate=int Encryption=string RequestedURI=string PeopleCountAverage=int
evt PresentationStarted : CallId=int Cause=string ConferenceId=int Mode=string LocalInstance=int LocalSource=int
evt PresentationStopped : CallId=int Cause=string ConferenceId=int Mode=string LocalInstance=int LocalSource=int
evt Message Send : Text=string
evt UserInterface Extensions Widget Action : WidgetId=string Type=string Value=string Origin=OSD|RoomScheduler|Controller
evt UserInterface Extensions Panel Clicked : PanelId=string Origin=OSD|RoomScheduler|Controller
evt UserInterface Extensions Event PageOpened : PageId=string
evt UserInterface Message Prompt Response : FeedbackId=string OptionId=int Origin=OSD|RoomScheduler|Controller
evt UserInterface Message TextInput Response : FeedbackId=string Text=string Origin=OSD|RoomScheduler|Controller
evt Standby Reset
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
    let mut at = Vec::new();
    status_entries(&status_shape(), &mut at, &mut schema);
    schema
}

/// Status leaves whose values are literals (the rest are integers or strings
/// by their initial value), with RoomOS 26.4.1's value spaces.
const STATUS_LITERALS: &[(&str, &str)] = &[
    ("Audio VolumeMute", "On|Off"),
    ("Audio Microphones Mute", "On|Off"),
    (
        "Call[n] Status",
        "Idle|Dialling|Ringing|Connecting|Connected|Disconnecting|OnHold|EarlyMedia|Preserved|RemotePreserved",
    ),
    ("Call[n] Direction", "Incoming|Outgoing"),
    (
        "Call[n] AnswerState",
        "Unanswered|Ignored|Autoanswered|Answered",
    ),
    ("Conference DoNotDisturb", "Active|Inactive"),
    ("Conference Presentation Mode", "Off|Receiving|Sending"),
    (
        "Conference Presentation LocalInstance[n] SendingMode",
        "LocalOnly|LocalRemote|Off",
    ),
    ("SIP CallForward Mode", "On|Off"),
    ("Standby State", "Standby|EnteringStandby|Halfwake|Off"),
    ("Video Selfview Mode", "On|Off"),
    ("Video Selfview FullscreenMode", "On|Off"),
    ("Video Selfview OnMonitorRole", "First|Second|Third"),
    (
        "Video Selfview PIPPosition",
        "CenterLeft|CenterRight|LowerLeft|LowerRight|UpperCenter|UpperLeft|UpperRight",
    ),
    ("RoomAnalytics PeoplePresence", "Yes|No|Unknown"),
    (
        "UserInterface WebView[n] Status",
        "Visible|Error|NotVisible",
    ),
    (
        "UserInterface WebView[n] Type",
        "WebApp|Integration|Signage|ECM|ECMSignIn|Kiosk|WebRTCMeeting|EmbeddedApp|PersistentWebApp|WebWidget|Whiteboard|None",
    ),
    ("Bookings Availability Status", "Free|FreeUntil|BookedUntil"),
];

/// Adds a Status entry for every leaf of `doc` (arrays become `Name[n]`).
fn status_entries(doc: &Value, at: &mut Vec<String>, schema: &mut Schema) {
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "id" {
                    continue;
                }
                match v {
                    Value::Array(items) => {
                        at.push(format!("{k}[n]"));
                        items.iter().for_each(|i| status_entries(i, at, schema));
                    }
                    _ => {
                        at.push(k.clone());
                        status_entries(v, at, schema);
                    }
                }
                at.pop();
            }
        }
        leaf => {
            let path = at.join(" ");
            let literal = STATUS_LITERALS.iter().find(|(p, _)| *p == path);
            let valuespace = match leaf {
                _ if literal.is_some() => {
                    let values = literal.map_or("", |(_, v)| v);
                    ValueSpace::Literal(values.split('|').map(str::to_string).collect())
                }
                Value::Number(_) => ValueSpace::Integer {
                    min: i64::MIN,
                    max: i64::MAX,
                },
                _ => ValueSpace::String {
                    min_len: 0,
                    max_len: usize::MAX,
                },
            };
            schema
                .insert(Kind::Status, &path, Entry::Status { valuespace })
                .expect("status shape paths are valid");
        }
    }
}

/// The initial status with one element in each array that starts empty,
/// so every path the model can show is known.
pub fn status_shape() -> Value {
    let mut doc = initial_status(50);
    let mut call = call_element();
    call["id"] = json!(1);
    doc["Call"] = json!([call]);
    doc["UserInterface"]["Extensions"]["Widget"] =
        json!([{ "id": 1, "WidgetId": "", "Value": "" }]);
    doc["UserInterface"]["WebView"] =
        json!([{ "id": 1, "Status": "NotVisible", "Type": "None", "URL": "" }]);
    doc["Conference"]["Presentation"]["LocalInstance"] =
        json!([{ "id": 1, "SendingMode": "LocalRemote", "Source": 1 }]);
    doc
}

/// A call element with every field the model fills (a call's `Status Call[n]`).
pub fn call_element() -> Value {
    json!({
        "AnswerState": "Unanswered",
        "CallType": "Video",
        "CallbackNumber": "",
        "DeviceType": "Endpoint",
        "Direction": "Outgoing",
        "DisplayName": "",
        "Duration": 0,
        "Encryption": { "Type": "None" },
        "FacilityServiceId": 0,
        "HoldReason": "None",
        "PlacedOnHold": "False",
        "Protocol": "Sip",
        "ReceiveCallRate": 6000,
        "RemoteNumber": "",
        "Status": "Idle",
        "TransmitCallRate": 6000
    })
}

/// A line of the built-in model's table that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum LineError {
    #[error("cfg without '='")]
    CfgWithoutDefault,
    #[error("{0}: no '='")]
    NoEquals(String),
    #[error("unknown line kind: {0}")]
    UnknownKind(String),
    #[error("{0}: bad [N]")]
    BadCount(String),
    #[error("{0}: no range")]
    NoRange(String),
    #[error("{0}: bad number")]
    BadNumber(String),
    #[error("{0}: unknown value space")]
    UnknownSpace(String),
}

fn parse_line(line: &str) -> Result<(Kind, String, Entry), LineError> {
    let (head, spec) = match line.split_once(" : ") {
        Some((h, s)) => (h, s.trim()),
        None => (line, ""),
    };
    if let Some(rest) = head.strip_prefix("cfg ") {
        let (path, default) = rest.split_once('=').ok_or(LineError::CfgWithoutDefault)?;
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
                let (name, space) = p
                    .split_once('=')
                    .ok_or_else(|| LineError::NoEquals(p.into()))?;
                let (space, default) = match space.split_once('=') {
                    Some((s, d)) => (s, Some(d.to_string())),
                    None => (space, None),
                };
                let (name, required) = match name.strip_prefix('*') {
                    Some(n) => (n, true),
                    None => (name, false),
                };
                Ok(Param {
                    name: name.to_string(),
                    required,
                    valuespace: parse_space(space)?,
                    default,
                    description: None,
                })
            })
            .collect::<Result<Vec<_>, LineError>>()?;
        Ok((
            Kind::Command,
            path.trim().to_string(),
            Entry::Command { params, multiline },
        ))
    } else if let Some(path) = head.strip_prefix("evt ") {
        let mut children = serde_json::Map::new();
        for field in spec.split_whitespace() {
            let (name, ty) = field
                .split_once('=')
                .ok_or_else(|| LineError::NoEquals(field.into()))?;
            let spec = match ty {
                "int" | "string" | "literal" => json!({ "valuespace": ty }),
                literals => json!({
                    "valuespace": "literal",
                    "values": literals.split('|').collect::<Vec<_>>(),
                }),
            };
            children.insert(name.to_string(), spec);
        }
        Ok((
            Kind::Event,
            path.trim().to_string(),
            Entry::Event {
                children: Value::Object(children),
            },
        ))
    } else {
        Err(LineError::UnknownKind(line.into()))
    }
}

fn parse_space(spec: &str) -> Result<ValueSpace, LineError> {
    if let Some(open) = spec.find('[') {
        let count = spec[open + 1..]
            .strip_suffix(']')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| LineError::BadCount(spec.into()))?;
        return Ok(ValueSpace::Array {
            item: Box::new(parse_space(&spec[..open])?),
            max_count: count,
        });
    }
    let range = |s: &str| -> Result<(i64, i64), LineError> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| LineError::NoRange(spec.into()))?;
        let number = |n: &str| n.parse().map_err(|_| LineError::BadNumber(spec.into()));
        Ok((number(a)?, number(b)?))
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
        Err(LineError::UnknownSpace(spec.into()))
    }
}

/// The Status document of a freshly booted device (under the `Status` key).
pub fn initial_status(default_volume: i64) -> Value {
    json!({
        "Audio": {
            "Volume": default_volume,
            "VolumeMute": "Off",
            "Microphones": { "Mute": "Off" },
            "Input": {
                "Connectors": {
                    "Microphone": [
                        { "id": 1, "ConnectionStatus": "Connected" },
                        { "id": 2, "ConnectionStatus": "NotConnected" }
                    ]
                }
            }
        },
        "Bookings": {
            "Availability": { "Status": "Free", "TimeStamp": "" },
            "Current": { "Id": "" }
        },
        "Call": [],
        "Cameras": {
            "Camera": [{
                "id": 1,
                "Connected": "True",
                "Position": { "Pan": 0, "Tilt": 0, "Zoom": 0, "Focus": 4500, "Lens": "Wide" }
            }]
        },
        "Conference": {
            "DoNotDisturb": "Inactive",
            "Presentation": { "Mode": "Off", "LocalInstance": [] }
        },
        "SIP": { "CallForward": { "DisplayName": "", "Mode": "Off", "URI": "" } },
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
                "Module": { "SerialNumber": "SIM00000001", "DeviceId": "" },
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
        "Time": { "SystemTime": "" },
        "Video": {
            "Input": {
                "Connector": [
                    { "id": 1, "Connected": "True", "Type": "HDMI" },
                    { "id": 2, "Connected": "False", "Type": "HDMI" },
                    { "id": 3, "Connected": "False", "Type": "HDMI" }
                ]
            },
            "Selfview": {
                "Mode": "Off",
                "FullscreenMode": "Off",
                "OnMonitorRole": "First",
                "PIPPosition": "LowerRight"
            }
        },
        "RoomAnalytics": {
            "PeopleCount": { "Current": 0, "Capacity": 8 },
            "PeoplePresence": "No",
            "AmbientNoise": { "Level": { "A": 32 } },
            "Sound": { "Level": { "A": 34 } }
        },
        "UserInterface": { "Extensions": { "Widget": [] }, "WebView": [] }
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

    #[test]
    fn status_and_events_are_known() {
        let s = schema();
        for p in [
            "Status Call[3] Status",
            "Status RoomAnalytics PeoplePresence",
            "Status Video Selfview Mode",
            "Event CallDisconnect",
        ] {
            assert!(s.lookup(&Path::parse(p).unwrap()).is_ok(), "{p}");
        }
        let state = s
            .lookup(&Path::parse("Status Standby State").unwrap())
            .unwrap();
        assert!(matches!(
            &state.entry,
            Some(Entry::Status { valuespace: ValueSpace::Literal(v) }) if v.contains(&"Halfwake".to_string())
        ));
        // Every literal listed names a status the model has.
        for (path, _) in STATUS_LITERALS {
            let p = Path::parse(&format!("Status {}", path.replace("[n]", ""))).unwrap();
            assert!(s.lookup(&p).is_ok(), "{path}");
        }
    }
}
