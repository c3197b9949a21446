//! Integration tests: run the real `tributary` binary on temporary sites and
//! check what a user sees (files, bytes, exit codes, messages).

mod support;

mod aggregate;
mod bad_input;
mod browser;
mod check_links;
mod cli;
mod content;
mod corpus;
mod crash;
mod deploy;
mod digest;
mod errors;
mod fetch_http;
mod first_steps;
mod health;
mod hostile;
mod hugo;
mod index_page;
mod jekyll;
mod layers;
mod migrate;
mod output;
mod parser_suite;
mod props;
mod push;
mod regressions;
mod replicas;
mod serve;
mod store_suite;
mod switch;
mod upstream_corpus;
mod websub;
