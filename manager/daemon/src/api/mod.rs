//! berthd's front doors. Each translates its wire to the engine's typed API
//! and maps the engine's error kinds to its own codes in one function.

pub mod grpc;
