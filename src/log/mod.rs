//! Text that leaves the process for people to read, made safe on the way:
//!
//! - [`stderr`]: the log lines on stderr (local-time text or JSON lines,
//!   colour only when wanted), set up once from `main`;
//! - [`safe`]: logs without secrets or forged lines, whatever the
//!   subscriber (the handshake's credentials never traced, one event one
//!   line, URLs with their password redacted);
//! - [`ratelimit`]: at most a burst of lines per source (a script's print
//!   loop, a codec flooding odd frames), the rest counted, never lost
//!   without a trace;
//! - [`markup`]: text escaped for HTML and XML (the status page, JUnit
//!   reports).
//!
//! It sits on the ground floor of the house, so the client, the runtime
//! and the host all use it: `safe`, `ratelimit` and `markup` import
//! nothing of xmacro, and `stderr` only adds the telemetry's log tap (the
//! status page's recent script lines).

pub mod markup;
pub mod ratelimit;
pub mod safe;
pub mod stderr;
