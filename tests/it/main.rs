//! The one integration-test binary: every end-to-end test is a module here,
//! so the library is linked once and `tests/it/common` compiled once.
//! Each module tests one area through the public API or the binary;
//! `common` holds the rig (an in-process simulator on port 0, a raw XoWS
//! client, a fault-injecting proxy and a host builder).

mod architecture;
mod call_path;
mod cli;
mod client;
mod common;
mod connect_flags;
mod deploy;
mod deploy_fleet;
mod docs;
mod feedback_burst;
mod feedback_order;
mod first_hour;
mod fleet_pace;
mod hardening;
mod hardening_errors;
mod hardening_ops;
mod hardening_sim;
mod hardening_slow_codec;
mod hardening_store;
mod idioms;
mod js_idioms;
mod jsxapi;
mod library_callbacks;
mod log_span;
mod lsp;
mod macro_http;
mod ops;
mod ops_browser;
mod ported;
mod pyxows;
mod reliability;
mod run_cli;
mod runtime_api;
mod runtime_process;
mod runtime_reload;
mod runtime_sandbox;
mod script_limits;
mod scripts;
mod shard;
mod sim_cli;
mod sim_control;
mod sim_ctl;
mod sim_device;
mod sim_protocol;
mod sim_schema;
mod sim_standby;
mod store;
mod testrun;
mod testrun_limits;
mod testrun_room;
