//! The XoWS side of xmacro: the wire protocol and paths, shared by the client
//! and the simulator.

pub mod path;
pub mod protocol;
pub mod tls;
