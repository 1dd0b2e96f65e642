//! berthd, berth's manager daemon. It owns the metadata store (sled), the
//! content store, images and their archives, the snapshots it asks the
//! snapshotter for, garbage collection, and the front doors that speak to
//! clients (the native gRPC API so far). It never runs a container process
//! itself: that is the shim's job (see DESIGN.md).
//!
//! Layers point one way: `store` → services (`content`, `image`, the
//! snapshotter) → `engine` → front doors (`server`). A front door only
//! translates.
#![deny(unsafe_code)]

pub mod config;
pub mod container;
pub mod content;
pub mod daemon;
pub mod distribution;
pub mod engine;
pub mod error;
pub mod image;
pub mod layout;
pub mod network;
pub mod reference;
pub mod server;
pub mod store;

pub use error::{ErrorKind, ManagerError, Result};
