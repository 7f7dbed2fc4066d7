//! cfgupdate's HTTP service (contract section 5), on axum.
