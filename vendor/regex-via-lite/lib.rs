//! `regex`'s API from `regex-lite`. Our dependencies use regexes only to
//! validate a few short strings (oci-spec: `execCPUAffinity` and image
//! references; prost-build at build time), where regex-lite's speed is
//! irrelevant and its size is not: full regex (its DFA engines, Aho-Corasick
//! and Unicode tables) is ~0.5 MiB of code resident in every berth-shim.
pub use regex_lite::*;
