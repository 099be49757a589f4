//! StackLedger's integration tests: one binary, one module per feature, shared code in
//! `support/`.

mod catalogue;
mod config;
mod crash_sweep;
mod dokploy_caller;
mod dokploy_client;
mod golden;
mod http_api;
mod http_edges;
mod http_ops;
mod http_surface;
mod kill_loop;
mod ledger_crash;
mod ledger_damage;
mod ledger_durability;
mod ledger_faults;
mod ledger_rules;
mod orchestrator;
mod projection_fold;
mod replay;
mod server;
mod simulator;
mod subscription;
mod support;
mod tidy;
