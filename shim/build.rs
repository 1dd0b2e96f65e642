//! Links berth-shim as a position-dependent executable. One shim runs per
//! container, so its resident size matters: a PIE's dynamic relocations
//! (~0.5 MiB of .rela.dyn read at start-up) and the ~0.35 MiB of
//! .data.rel.ro they dirty would be resident in every shim.
fn main() {
    println!("cargo:rustc-link-arg-bin=berth-shim=-no-pie");
}
