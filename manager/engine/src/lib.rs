//! berth-engine: the engine of berthd as a library. It owns the metadata
//! store (sled), the content store, images and their archives, the
//! snapshots it asks the snapshotter for, containers and their shims,
//! networks, and garbage collection. It never runs a container process
//! itself: that is the shim's job (see DESIGN.md).
//!
//! Layers point one way: `store` → services (`content`, `image`,
//! `container`, `network`, the snapshotter) → `engine` → the front doors,
//! which live in berthd (manager/daemon) and only translate.
#![deny(unsafe_code)]

pub mod config;
pub mod container;
pub mod content;
pub(crate) mod core;
pub mod distribution;
pub mod engine;
pub mod error;
pub mod events;
pub mod image;
pub mod layout;
pub mod mountinfo;
pub mod network;
pub mod reference;
mod serde_str;
pub mod store;
pub mod system;
pub mod volume;

pub use error::{ErrorKind, ManagerError, Result};
