//! Integration tests of tessera-core: one binary, one module per concern.

mod canonical;
mod golden;
mod naive;
mod props;
mod tagged;
mod tokens;
mod vectors;
