//! StackLedger's integration tests: one binary, one module per feature, shared code in
//! `support/`.

mod catalogue;
mod golden;
mod ledger_crash;
mod ledger_damage;
mod ledger_durability;
mod ledger_rules;
mod projection_fold;
mod server;
mod subscription;
mod support;
